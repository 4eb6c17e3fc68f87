// Command promql evaluates PromQL instant queries with Prometheus's own engine over series given to it, for the
// tests of the chart's alerts and Grafana dashboard (tests/charts, adapter/tests/e2e): what Prometheus answers an
// expression, not what a parser accepts.
//
// It reads one JSON document on stdin:
//
//	{"series": [{"labels": {"__name__": "m", "a": "b"}, "samples": [[unix_ms, value], ...]}, ...],
//	 "queries": [{"expr": "sum(m)", "time": unix_ms}, ...]}
//
// stores the series in a TSDB of its own (a temporary directory), and writes one JSON array on stdout, an element
// per query in order: {"error": "..."} where Prometheus refused or failed it, else {"series": [{"labels": {...},
// "value": v}, ...]} (a scalar is one series without labels). Only instant queries: a panel's range query is the
// same expression at each step.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/tsdb"
)

type series struct {
	Labels  map[string]string `json:"labels"`
	Samples [][2]float64      `json:"samples"`
}

type query struct {
	Expr string `json:"expr"`
	Time int64  `json:"time"`
}

type input struct {
	Series  []series `json:"series"`
	Queries []query  `json:"queries"`
}

type sample struct {
	Labels map[string]string `json:"labels"`
	Value  *float64          `json:"value"` // null for NaN and the infinities, which JSON cannot carry
}

type answer struct {
	Error  string   `json:"error,omitempty"`
	Series []sample `json:"series"`
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "promql:", err)
		os.Exit(1)
	}
}

func run() error {
	var in input
	if err := json.NewDecoder(os.Stdin).Decode(&in); err != nil {
		return fmt.Errorf("reading the input: %w", err)
	}
	dir, err := os.MkdirTemp("", "promql-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	db, err := tsdb.Open(dir, nil, nil, tsdb.DefaultOptions(), nil)
	if err != nil {
		return err
	}
	defer db.Close()
	ctx := context.Background()
	app := db.Appender(ctx)
	for _, s := range in.Series {
		set := labels.FromMap(s.Labels)
		for _, point := range s.Samples {
			if _, err := app.Append(0, set, int64(point[0]), point[1]); err != nil {
				return fmt.Errorf("storing %s: %w", set, err)
			}
		}
	}
	if err := app.Commit(); err != nil {
		return err
	}
	engine := promql.NewEngine(promql.EngineOpts{MaxSamples: 10_000_000, Timeout: time.Minute})
	answers := make([]answer, 0, len(in.Queries))
	for _, q := range in.Queries {
		answers = append(answers, evaluate(ctx, engine, db, q))
	}
	return json.NewEncoder(os.Stdout).Encode(answers)
}

func evaluate(ctx context.Context, engine *promql.Engine, db *tsdb.DB, q query) answer {
	prepared, err := engine.NewInstantQuery(ctx, db, nil, q.Expr, time.UnixMilli(q.Time))
	if err != nil {
		return answer{Error: err.Error()}
	}
	defer prepared.Close()
	result := prepared.Exec(ctx)
	if result.Err != nil {
		return answer{Error: result.Err.Error()}
	}
	out := answer{Series: []sample{}}
	switch value := result.Value.(type) {
	case promql.Vector:
		for _, s := range value {
			out.Series = append(out.Series, sample{Labels: s.Metric.Map(), Value: finite(s.F)})
		}
	case promql.Scalar:
		out.Series = append(out.Series, sample{Labels: map[string]string{}, Value: finite(value.V)})
	default:
		return answer{Error: fmt.Sprintf("a %s, not an instant vector or a scalar", result.Value.Type())}
	}
	return out
}

func finite(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}
