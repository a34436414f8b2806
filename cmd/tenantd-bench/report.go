package main

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strings"
)

// Report is the run's JSON output and markdown table.
type Report struct {
	Command    string   `json:"command"`
	Commit     string   `json:"commit,omitempty"`
	CPUs       int      `json:"cpus"`
	MemTotal   string   `json:"mem_total"`
	Concurrent int      `json:"concurrency"`
	Duration   string   `json:"duration"`
	Workspaces int      `json:"workspaces_per_tenant"`
	PeakRSS    string   `json:"peak_rss"`
	Results    []result `json:"results"`
	Summary    []ratios `json:"summary"`
	Outside    *outside `json:"outside,omitempty"`

	ServerMemory *serverMemory `json:"server_memory,omitempty"`
}

// ratios are a scenario's figures against its targets.
type ratios struct {
	Scenario       string  `json:"scenario"`
	FullVsCeiling  float64 `json:"full_stack_vs_ceiling"`
	RLSVsNoRLS     float64 `json:"rls_vs_no_rls"`
	TripsPerReq    float64 `json:"round_trips_per_request"`
	TripsLarge     float64 `json:"round_trips_per_request_large"`
	P99LargeVsSmal float64 `json:"p99_large_vs_small"`
}

func report(cfg config, results []result) *Report {
	r := &Report{
		Command: strings.Join(append([]string{"go run ./cmd/tenantd-bench"}, os.Args[1:]...), " "), Commit: gitDescribe(), CPUs: runtime.NumCPU(),
		MemTotal: procField("/proc/meminfo", "MemTotal"), Concurrent: cfg.conc, Duration: cfg.duration.String(),
		Workspaces: cfg.workspaces, PeakRSS: procField("/proc/self/status", "VmHWM"), Results: results,
	}
	find := func(sc, variant string, tenants int) *result {
		for i := range results {
			if x := &results[i]; x.Scenario == sc && x.Variant == variant && x.Tenants == tenants {
				return x
			}
		}
		return nil
	}
	seen := map[string]bool{}
	for _, x := range results {
		if seen[x.Scenario] {
			continue
		}
		seen[x.Scenario] = true
		ceil, norls := find(x.Scenario, "ceiling (pgx)", cfg.tenants), find(x.Scenario, "full stack, no RLS", cfg.tenants)
		rls := find(x.Scenario, "full stack, RLS", cfg.tenants)
		small, large := find(x.Scenario, variantOwnProcess, cfg.tenants), find(x.Scenario, variantOwnProcess, cfg.tenantsLarge)
		if ceil == nil || norls == nil || rls == nil || small == nil || large == nil {
			continue
		}
		r.Summary = append(r.Summary, ratios{Scenario: x.Scenario,
			FullVsCeiling: div(rls.ReqPerSec, ceil.ReqPerSec), RLSVsNoRLS: div(rls.ReqPerSec, norls.ReqPerSec),
			TripsPerReq: rls.TripsPerRq, TripsLarge: large.TripsPerRq, P99LargeVsSmal: div(large.P99ms, small.P99ms)})
	}
	return r
}

func div(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

func (r *Report) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Command: `%s`", r.Command)
	if r.Commit != "" {
		fmt.Fprintf(&b, " at `%s`", r.Commit)
	}
	fmt.Fprintf(&b, "\nMachine: %d CPUs, %s RAM; concurrency %d, %s per measurement, %d workspaces per tenant; peak RSS of the bench process (clients, the in-process servers and the ceiling; PostgreSQL not included): %s\n\n",
		r.CPUs, r.MemTotal, r.Concurrent, r.Duration, r.Workspaces, r.PeakRSS)
	b.WriteString("| scenario | variant | tenants | req/s | p50 ms | p95 ms | p99 ms | round trips/req | errors |\n")
	b.WriteString("|---|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, x := range r.Results {
		fmt.Fprintf(&b, "| %s | %s | %d | %.0f | %.2f | %.2f | %.2f | %.2f | %d |\n",
			x.Scenario, x.Variant, x.Tenants, x.ReqPerSec, x.P50ms, x.P95ms, x.P99ms, x.TripsPerRq, x.Errors)
	}
	b.WriteString("\n| scenario | full stack / ceiling | RLS / no RLS (target ≥ 0.95) | round trips/req, small (target 1) | round trips/req, large (target 1) | p99 large / small, server process (target ≤ 1.2) |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|\n")
	for _, s := range r.Summary {
		fmt.Fprintf(&b, "| %s | %.2f | %.2f %s | %.2f %s | %.2f %s | %.2f %s |\n", s.Scenario, s.FullVsCeiling,
			s.RLSVsNoRLS, mark(s.RLSVsNoRLS >= 0.95), s.TripsPerReq, mark(s.TripsPerReq <= 1.05),
			s.TripsLarge, mark(s.TripsLarge <= 1.05), s.P99LargeVsSmal, mark(s.P99LargeVsSmal <= 1.2))
	}
	if r.ServerMemory != nil {
		b.WriteString(r.ServerMemory.markdown())
	}
	if r.Outside != nil {
		b.WriteString(r.Outside.markdown())
	}
	return b.String()
}

func mark(ok bool) string {
	if ok {
		return "(met)"
	}
	return "(not met)"
}

// procField returns a field of a /proc file such as VmHWM, "" if absent.
func procField(path, name string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && k == name {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
