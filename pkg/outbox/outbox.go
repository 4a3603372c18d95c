// Package outbox owns the transactional outbox: a service writes its events into the outbox table
// in the same transaction as the business rows (Add), and a Relay in the same process publishes
// pending rows to JetStream, waits for the acks and deletes them. NATS down means events
// wait in the table while writes keep working; a crash between publish and commit means the row
// is published again, and the JetStream duplicate window drops the copy (Nats-Msg-Id = event id).
// The relay learns of new rows from Commits, a tracer on the process's own pool that sees their
// transactions commit, and polls for the rest (docs/adr/0002-in-process-relay-wake-up.md).
//
// It imports pgx, NATS and package events; it must not import service code. The table lives in
// the service's own schema: apply Migrations with pgdb.Migrate(ctx, pool, schema, "outbox",
// outbox.Migrations).
package outbox

import (
	"context"
	"embed"
	"fmt"
	"io/fs"

	"github.com/crmsuite/crm/pkg/events"
	eventsv1 "github.com/crmsuite/crm/proto/gen/go/crm/events/v1"
	"github.com/jackc/pgx/v5"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations holds the outbox's SQL migrations at its root, for pgdb.Migrate. They create the
// table in the first schema of the search path, i.e. the service's.
var Migrations fs.FS = migrations()

func migrations() fs.FS {
	// fs.Sub fails only for an invalid path; "migrations" is a valid one.
	sub, _ := fs.Sub(migrationFiles, "migrations")
	return sub
}

// addSQL inserts an event. Commits recognises it by its text, to wake the relay when the
// transaction commits.
const addSQL = `INSERT INTO outbox (event_id, subject, payload) VALUES ($1, $2, $3)`

// Add stores ev in the outbox within tx, the caller's transaction that writes the business rows,
// so the event exists if and only if the change commits. The connection's search_path must start
// with the service's schema (pgdb.Connect does this).
func Add(ctx context.Context, tx pgx.Tx, ev *eventsv1.Event) error {
	subject, data, err := events.Encode(ev)
	if err != nil {
		return fmt.Errorf("outbox: add: %w", err)
	}
	if _, err := tx.Exec(ctx, addSQL, ev.GetId(), subject, data); err != nil {
		return fmt.Errorf("outbox: add event %s: %w", ev.GetId(), err)
	}
	return nil
}

// Queue queues the statement that stores ev in the outbox onto b, for callers that send their
// transaction's statements in batches to save round trips. Send b within the transaction that
// writes the business rows (the same rule as Add) and read the statement's result with
// BatchResults.Exec in its turn.
func Queue(b *pgx.Batch, ev *eventsv1.Event) error {
	subject, data, err := events.Encode(ev)
	if err != nil {
		return fmt.Errorf("outbox: queue: %w", err)
	}
	b.Queue(addSQL, ev.GetId(), subject, data)
	return nil
}
