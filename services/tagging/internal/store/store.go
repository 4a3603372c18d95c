// Package store keeps tags, their assignments to customers, the tag history and segments in
// PostgreSQL (schema "tagging"): plain SQL through pgx, every change in one transaction together
// with its events in the outbox, optimistic concurrency on version columns, keyset-paged lists,
// and the compilation of tag expressions into parameterised SQL.
//
// It must not import the gRPC server; it uses the API's messages only to read customer events and
// (through EventData) to build event data.
package store

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/proto"

	"github.com/crmsuite/crm/pkg/customerref"
	"github.com/crmsuite/crm/pkg/events"
	"github.com/crmsuite/crm/pkg/ids"
	"github.com/crmsuite/crm/pkg/outbox"
	"github.com/crmsuite/crm/pkg/pgdb"
	commonv1 "github.com/crmsuite/crm/proto/gen/go/crm/common/v1"
	"github.com/crmsuite/crm/services/tagging/internal/tagging"
)

// Schema is the PostgreSQL schema the tagging service owns; it is also the events' source.
const Schema = "tagging"

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrate applies the tagging service's migrations and those of the packages it uses.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	own, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return err
	}
	for _, m := range []struct {
		set  string
		fsys fs.FS
	}{{"outbox", outbox.Migrations}, {"ids", ids.Migrations}, {"customerref", customerref.Migrations}, {"tagging", own}} {
		if err := pgdb.Migrate(ctx, pool, Schema, m.set, m.fsys); err != nil {
			return err
		}
	}
	return nil
}

// Actor is who makes a change.
type Actor struct {
	UserID, Role, TeamID string
}

func (a Actor) proto() *commonv1.Actor {
	return &commonv1.Actor{UserId: a.UserID, Role: a.Role, TeamId: a.TeamID}
}

// Reach limits which customers a query may touch: one owner's, one team's, or (both empty) all.
// It is always a WHERE clause on customer_refs (alias r), never a filter after the query.
type Reach struct {
	OwnerID string
	TeamID  string
}

// where appends the reach condition's value to args and returns the condition.
func (r Reach) where(args *[]any) string {
	switch {
	case r.OwnerID != "":
		*args = append(*args, r.OwnerID)
		return fmt.Sprintf("r.owner_id = $%d", len(*args))
	case r.TeamID != "":
		*args = append(*args, r.TeamID)
		return fmt.Sprintf("r.team_id = $%d", len(*args))
	}
	return "true"
}

// EventData renders entities as the data of their events (the API's messages).
type EventData struct {
	Tag        func(*tagging.Tag) proto.Message
	Segment    func(*tagging.Segment) proto.Message
	Assignment func(*tagging.Assignment) proto.Message
	// Level renders the data of a customer_level.changed event (crm.tagging.v1.CustomerLevel).
	Level func(customerID string, level tagging.Level) proto.Message
}

// Store reads and writes tags, assignments and segments.
type Store struct {
	pool       *pgxpool.Pool
	tagIDs     *ids.Allocator
	segmentIDs *ids.Allocator
	data       EventData
	now        func() time.Time
}

// New returns a store; data renders the entities for their events.
func New(pool *pgxpool.Pool, data EventData) *Store {
	return &Store{
		pool:       pool,
		tagIDs:     ids.NewAllocator(pool, "T", ids.CompactFormat("T"), 100),
		segmentIDs: ids.NewAllocator(pool, "SEG", ids.CompactFormat("SEG"), 100),
		data:       data,
		now:        func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) },
	}
}

// Pool returns the store's connection pool (readiness checks).
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Request identifies a create request for idempotency; an empty ID disables it.
type Request struct {
	ID string
	// Hash fingerprints the request, so a reused id with other content is refused.
	Hash []byte
}

// claimRequest records the request id for a new resource; if an earlier request with that id
// committed, it returns that request's resource id instead (after waiting for it, if it is still
// in flight).
func claimRequest(ctx context.Context, tx pgx.Tx, kind, userID string, req Request, id string) (string, error) {
	tag, err := tx.Exec(ctx, `INSERT INTO create_requests (kind, created_by, request_id, request_hash, resource_id)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`, kind, userID, req.ID, req.Hash, id)
	if err != nil {
		return "", fmt.Errorf("claim request id: %w", err)
	}
	if tag.RowsAffected() == 1 {
		return "", nil
	}
	var hash []byte
	var prior string
	if err := tx.QueryRow(ctx, `SELECT request_hash, resource_id FROM create_requests WHERE kind = $1 AND created_by = $2 AND request_id = $3`,
		kind, userID, req.ID).Scan(&hash, &prior); err != nil {
		return "", fmt.Errorf("read request id: %w", err)
	}
	if !bytes.Equal(hash, req.Hash) {
		return "", tagging.ErrRequestUsed
	}
	return prior, nil
}

// addEvent writes one event into the outbox, in the caller's transaction.
func addEvent(ctx context.Context, tx pgx.Tx, entity, action, id string, version int64, data proto.Message, changes []tagging.Change, actor Actor) error {
	var fcs []*commonv1.FieldChange
	for _, ch := range changes {
		fc, err := events.Change(ch.Field, ch.Before, ch.After)
		if err != nil {
			return fmt.Errorf("event change %s: %w", ch.Field, err)
		}
		fcs = append(fcs, fc)
	}
	ev, err := events.New(ctx, Schema, entity, action, id, actor.proto(), version, data, fcs)
	if err != nil {
		return fmt.Errorf("build %s.%s event: %w", entity, action, err)
	}
	return outbox.Add(ctx, tx, ev)
}

// notFound maps "no rows" to the given domain error.
func notFound(err, domainErr error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return domainErr
	}
	return err
}
