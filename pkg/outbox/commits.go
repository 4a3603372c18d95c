package outbox

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// Commits tells a relay that its own process has committed outbox rows, so that it publishes
// them at once without PostgreSQL having to notify it. It is a pgx tracer: install it on the pool
// the service writes with (pgdb.Connect(ctx, url, schema, commits)) and give the same value to
// the relay (RelayConfig.Commits).
//
// It watches each connection for the statements of Add, Queue and a COPY into the outbox table,
// and signals when that connection's transaction commits; a rollback (including a COMMIT that
// PostgreSQL answers with ROLLBACK) forgets them. Rows written by other processes (another
// replica of the service has its own relay and Commits) are found by the relay's poll.
type Commits struct {
	c chan struct{}
}

// NewCommits returns a Commits for one relay.
func NewCommits() *Commits {
	return &Commits{c: make(chan struct{}, 1)}
}

// pendingKey marks, in a connection's CustomData, a transaction that has written outbox rows.
// A connection is used by one goroutine at a time, so the map needs no lock.
const pendingKey = "crm/outbox: rows in transaction"

// TraceQueryStart marks the connection when the statement is Add's insert.
func (c *Commits) TraceQueryStart(ctx context.Context, conn *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	if data.SQL == addSQL {
		conn.PgConn().CustomData()[pendingKey] = true
	}
	return ctx
}

// TraceQueryEnd signals a commit of a marked transaction (tx.Commit, or COMMIT by Exec).
func (c *Commits) TraceQueryEnd(_ context.Context, conn *pgx.Conn, data pgx.TraceQueryEndData) {
	c.ended(conn, data.CommandTag.String())
}

// TraceBatchStart is part of pgx.BatchTracer; the statements are seen one by one in
// TraceBatchQuery, as their results are read.
func (c *Commits) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	return ctx
}

// TraceBatchQuery marks the connection at Queue's insert and signals at the COMMIT of a marked
// transaction, for transactions sent in batches (pgdb.InBatchTx).
func (c *Commits) TraceBatchQuery(_ context.Context, conn *pgx.Conn, data pgx.TraceBatchQueryData) {
	if data.SQL == addSQL && data.Err == nil {
		conn.PgConn().CustomData()[pendingKey] = true
		return
	}
	c.ended(conn, data.CommandTag.String())
}

// TraceBatchEnd is part of pgx.BatchTracer.
func (c *Commits) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

// TraceCopyFromStart marks the connection for a COPY into the outbox table (bulk writers).
func (c *Commits) TraceCopyFromStart(ctx context.Context, conn *pgx.Conn, data pgx.TraceCopyFromStartData) context.Context {
	if n := len(data.TableName); n > 0 && data.TableName[n-1] == "outbox" {
		conn.PgConn().CustomData()[pendingKey] = true
	}
	return ctx
}

// TraceCopyFromEnd is part of pgx.CopyFromTracer.
func (c *Commits) TraceCopyFromEnd(context.Context, *pgx.Conn, pgx.TraceCopyFromEndData) {}

// ended looks at the command tag of a finished statement: COMMIT ends a transaction that
// committed, ROLLBACK one that did not (a ROLLBACK, or a COMMIT of a failed transaction).
func (c *Commits) ended(conn *pgx.Conn, tag string) {
	if tag != "COMMIT" && tag != "ROLLBACK" {
		return
	}
	data := conn.PgConn().CustomData()
	if pending, _ := data[pendingKey].(bool); !pending {
		return
	}
	delete(data, pendingKey)
	if tag == "COMMIT" {
		c.signal()
	}
}

// signal wakes the relay unless a wake-up is already pending.
func (c *Commits) signal() {
	select {
	case c.c <- struct{}{}:
	default:
	}
}
