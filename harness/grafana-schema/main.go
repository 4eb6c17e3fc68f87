// Command grafana-schema checks a Grafana dashboard (JSON on stdin) against Grafana's own dashboard schema, as
// Grafana's Foundation SDK carries it (github.com/grafana/grafana-foundation-sdk/go, generated from the schemas of
// Grafana and of its core panel and data source plugins): a strict decode (every field the schema requires present,
// none it does not know, each of its type; a panel's options and field config by its plugin's schema, a query by its
// data source's), then the schema's own constraints (Validate). It prints each error on a line of its own and exits
// 1 when there is any; 0 and nothing printed for a dashboard Grafana's schema takes. For tests/charts.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

func main() {
	plugins.RegisterDefaultPlugins()
	raw, err := io.ReadAll(os.Stdin)
	if err != nil {
		fail(err)
	}
	var board dashboard.Dashboard
	if err := decoded(board.UnmarshalJSONStrict(raw)); err != nil {
		fail(err)
	}
	if err := decoded(board.Validate()); err != nil {
		fail(err)
	}
}

// decoded is err, or nil where it is an empty list of build errors: the SDK returns its (nil) error list as an
// error, which is never a nil interface.
func decoded(err error) error {
	var list cog.BuildErrors
	if errors.As(err, &list) && len(list) == 0 {
		return nil
	}
	return err
}

func fail(err error) {
	fmt.Println(err)
	os.Exit(1)
}
