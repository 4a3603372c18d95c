package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/crmsuite/crm/deploy/bench/internal/procstat"
	"github.com/crmsuite/crm/deploy/bench/internal/report"
	"github.com/crmsuite/crm/deploy/bench/internal/scenario"
	"github.com/crmsuite/crm/deploy/bench/internal/seed"
)

// importRows is the size of the import scenario's file.
const importRows = 100_000

// scenarioTransfer exports every customer and imports a file of 100,000 through
// CustomerTransferService, when the customer service serves it, and sets each against the
// database's own COPY of the same rows.
func (h *harness) scenarioTransfer(ctx context.Context) (report.Scenario, error) {
	s := report.Scenario{Title: "Export of all customers and import of 100,000 (CustomerTransferService)"}
	s.Notes = []string{"The figures of the import/export implementation itself are in the section \"Import and export\"; " +
		"these are the same operations measured by this harness on the seeded database, next to PostgreSQL's COPY."}

	sampler := procstat.Start(h.groups, 250*time.Millisecond)
	m0, _ := procstat.ReadMachine()
	ex, err := h.env.ExportAll(ctx)
	cpu := sampler.Stop()
	m1, _ := procstat.ReadMachine()
	if errors.Is(err, scenario.ErrNoTransfer) {
		s.Notes = []string{"Not measured: the customer service of this build does not serve CustomerTransferService " +
			"(ImportCustomers / ExportCustomers answer UNIMPLEMENTED). The harness drives both as soon as it does."}
		return s, nil
	}
	if err != nil {
		return s, fmt.Errorf("export: %w", err)
	}
	run := report.Run{Label: fmt.Sprintf("ExportCustomers, CSV, masked: %d rows, %.0f MB", ex.Rows, float64(ex.Bytes)/1e6),
		Requests: ex.Rows, Seconds: ex.Took.Seconds(), Throughput: float64(ex.Rows) / ex.Took.Seconds(),
		Latency: report.Latency{P50: ex.Took, P95: ex.Took, P99: ex.Took, Max: ex.Took}, MachineBusy: procstat.Utilisation(m0, m1)}
	h.setCPU(&run, cpu, ex.Rows)
	s.Service = append(s.Service, run)

	copyOut, err := h.copyOut(ctx)
	if err != nil {
		return s, err
	}
	s.Limit = append(s.Limit, copyOut)

	h.settle(ctx)
	file, err := scenario.ImportCSV(h.layout, 0, importRows)
	if err != nil {
		return s, err
	}
	sampler = procstat.Start(h.groups, 250*time.Millisecond)
	m0, _ = procstat.ReadMachine()
	im, err := h.env.ImportFile(ctx, file)
	cpu = sampler.Stop()
	m1, _ = procstat.ReadMachine()
	if err != nil {
		return s, fmt.Errorf("import: %w", err)
	}
	job := im.Job
	run = report.Run{Label: fmt.Sprintf("ImportCustomers, CSV %.1f MB, valid-only: %d created, %d skipped, %d failed",
		float64(len(file))/1e6, job.GetCreatedCount(), job.GetSkippedCount(), job.GetFailedCount()),
		Requests: int(job.GetTotalRows()), Errors: int(job.GetFailedCount()), Seconds: im.Took.Seconds(),
		Throughput: float64(job.GetCreatedCount()) / im.Took.Seconds(),
		Latency:    report.Latency{P50: im.Took, P95: im.Took, P99: im.Took, Max: im.Took}, MachineBusy: procstat.Utilisation(m0, m1)}
	h.setCPU(&run, cpu, int(job.GetCreatedCount()))
	s.Service = append(s.Service, run)

	copyIn, err := h.copyIn(ctx)
	if err != nil {
		return s, err
	}
	s.Limit = append(s.Limit, copyIn)
	s.Ratios = []report.Ratio{
		{What: "export rows/s ÷ COPY TO rows/s", Value: ratio(s.Service[0].Throughput, copyOut.Throughput)},
		{What: "import rows/s ÷ COPY FROM rows/s", Value: ratio(run.Throughput, copyIn.Throughput)},
	}
	s.Notes = append(s.Notes, "Latency columns of these rows are the whole operation's time.")
	return s, nil
}

// copyOut times COPY of the live customers, newest first, as CSV: the database's own export speed.
func (h *harness) copyOut(ctx context.Context) (report.Run, error) {
	conn, err := h.pool.Acquire(ctx)
	if err != nil {
		return report.Run{}, err
	}
	defer conn.Release()
	start := time.Now()
	tag, err := conn.Conn().PgConn().CopyTo(ctx, io.Discard, `COPY (SELECT * FROM customer.customers WHERE deleted_at IS NULL
		ORDER BY created_at DESC, id DESC) TO STDOUT (FORMAT csv, HEADER)`)
	if err != nil {
		return report.Run{}, fmt.Errorf("copy out: %w", err)
	}
	took := time.Since(start)
	return report.Run{Label: "COPY … TO STDOUT (CSV), same rows and order", Requests: int(tag.RowsAffected()),
		Seconds: took.Seconds(), Throughput: float64(tag.RowsAffected()) / took.Seconds(),
		Latency: report.Latency{P50: took, P95: took, P99: took, Max: took}}, nil
}

// copyIn times COPY of importRows customers into customer.customers with all its indexes, in a
// transaction that is rolled back: the database's own import speed.
func (h *harness) copyIn(ctx context.Context) (report.Run, error) {
	tx, err := h.pool.Begin(ctx)
	if err != nil {
		return report.Run{}, err
	}
	defer func() { _ = tx.Rollback(ctx) }()
	start := time.Now()
	k := 0
	n, err := tx.CopyFrom(ctx, pgx.Identifier{"customer", "customers"}, seed.CustomerColumns(), pgx.CopyFromFunc(func() ([]any, error) {
		if k >= importRows {
			return nil, nil
		}
		c := h.layout.CustomerRow((k * 7) % h.layout.Customers)
		// New keys, as the imported file has: no USCC or e-mail of a live customer again.
		c.ID, c.Mobile, c.DeletedAt, c.USCC, c.Email = fmt.Sprintf("IMPB-%d", k), fmt.Sprintf("194%08d", k), nil, "", ""
		c.Name = fmt.Sprintf("%s导入%d", c.Name, k)
		k++
		return seed.CustomerValues(c), nil
	}))
	if err != nil {
		return report.Run{}, fmt.Errorf("copy in: %w", err)
	}
	took := time.Since(start)
	return report.Run{Label: fmt.Sprintf("COPY FROM of %d customers (all indexes, rolled back)", n), Requests: int(n),
		Seconds: took.Seconds(), Throughput: float64(n) / took.Seconds(),
		Latency: report.Latency{P50: took, P95: took, P99: took, Max: took}}, nil
}
