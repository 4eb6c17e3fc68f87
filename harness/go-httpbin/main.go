// The httpbin chart's backend as the local stack and the tests run it: go-httpbin's own handlers and server
// settings, at the chart's image version (versions.env GO_HTTPBIN_VERSION), built from the Go module proxy by
// scripts/go-harness.sh.
//
// One difference from the image's command (go-httpbin httpbin/cmd/cmd.go), and why: the chart's pods answer
// /hostname with their pod name (USE_REAL_HOSTNAME), which shows the version a request reached; processes on one
// machine share its hostname, so -hostname names each one, through the option cmd.go sets from os.Hostname()
// (httpbin.WithHostname). Everything else is cmd.go's: its defaults, its http.Server limits, its log observer.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/mccutchen/go-httpbin/v2/httpbin"
)

// cmd.go's server limits.
const (
	readTimeout       = 5 * time.Second
	readHeaderTimeout = 1 * time.Second
	maxHeaderBytes    = 16 * 1024
)

func main() {
	host := flag.String("host", "127.0.0.1", "Host to listen on")
	port := flag.Int("port", 8080, "Port to listen on")
	hostname := flag.String("hostname", "", "What /hostname answers (empty: go-httpbin's dummy value)")
	flag.Parse()

	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	opts := []httpbin.OptionFunc{
		httpbin.WithMaxBodySize(httpbin.DefaultMaxBodySize),
		httpbin.WithMaxDuration(httpbin.DefaultMaxDuration),
		httpbin.WithObserver(httpbin.StdLogObserver(logger)),
	}
	if *hostname != "" {
		opts = append(opts, httpbin.WithHostname(*hostname))
	}
	srv := &http.Server{
		Addr:              net.JoinHostPort(*host, strconv.Itoa(*port)),
		Handler:           httpbin.New(opts...).Handler(),
		MaxHeaderBytes:    maxHeaderBytes,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
	}

	// As cmd.go: SIGTERM and SIGINT let the calls in flight finish, up to the longest a response may take.
	stopped := make(chan error, 1)
	go func() {
		signals := make(chan os.Signal, 1)
		signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
		<-signals
		ctx, cancel := context.WithTimeout(context.Background(), httpbin.DefaultMaxDuration+time.Second)
		defer cancel()
		stopped <- srv.Shutdown(ctx)
	}()
	logger.Info(fmt.Sprintf("go-httpbin listening on http://%s", srv.Addr))
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		logger.Error(err.Error())
		os.Exit(1)
	}
	if err := <-stopped; err != nil {
		logger.Error(err.Error())
		os.Exit(1)
	}
}
