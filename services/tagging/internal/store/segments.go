package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/crmsuite/crm/pkg/pgdb"
	"github.com/crmsuite/crm/services/tagging/internal/tagging"
)

const segmentColumns = `id, name, description, expression, created_at, created_by, updated_at, updated_by,
	deleted_at, deleted_by, version`

func segmentDest(g *tagging.Segment) []any {
	return []any{&g.ID, &g.Name, &g.Description, &g.Expression, &g.CreatedAt, &g.CreatedBy, &g.UpdatedAt,
		&g.UpdatedBy, &g.DeletedAt, &g.DeletedBy, &g.Version}
}

func scanSegment(row pgx.Row) (*tagging.Segment, error) {
	var g tagging.Segment
	if err := row.Scan(segmentDest(&g)...); err != nil {
		return nil, notFound(err, tagging.ErrSegmentNotFound)
	}
	return &g, nil
}

func segmentUniqueError(err error) error {
	if name, ok := pgdb.UniqueViolation(err); ok && name == "segments_name_live" {
		return tagging.ErrSegmentNameTaken
	}
	return err
}

// CreateSegment stores a new, validated segment and its segment.created event. A repeated
// request id returns the first result.
func (s *Store) CreateSegment(ctx context.Context, g *tagging.Segment, req Request, actor Actor) (*tagging.Segment, error) {
	id, err := s.segmentIDs.Next(ctx)
	if err != nil {
		return nil, fmt.Errorf("allocate segment id: %w", err)
	}
	now := s.now()
	g.ID, g.CreatedAt, g.UpdatedAt, g.CreatedBy, g.UpdatedBy, g.Version = id, now, now, actor.UserID, actor.UserID, 1
	var prior string
	err = pgdb.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		if req.ID != "" {
			if prior, err = claimRequest(ctx, tx, "segment", actor.UserID, req, id); err != nil || prior != "" {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `INSERT INTO segments (`+segmentColumns+`, name_key) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
			g.ID, g.Name, g.Description, g.Expression, g.CreatedAt, g.CreatedBy, g.UpdatedAt, g.UpdatedBy, g.DeletedAt,
			g.DeletedBy, g.Version, g.NameKey()); err != nil {
			if e := segmentUniqueError(err); e != err {
				return e
			}
			return fmt.Errorf("insert segment: %w", err)
		}
		return addEvent(ctx, tx, "segment", "created", g.ID, g.Version, s.data.Segment(g), tagging.DiffSegment(nil, g), actor)
	})
	if err != nil {
		return nil, err
	}
	if prior != "" {
		return s.GetSegment(ctx, prior)
	}
	return g, nil
}

// GetSegment returns one live segment.
func (s *Store) GetSegment(ctx context.Context, id string) (*tagging.Segment, error) {
	return scanSegment(s.pool.QueryRow(ctx, `SELECT `+segmentColumns+` FROM segments WHERE id = $1 AND deleted_at IS NULL`, id))
}

// SegmentCursor is the position after the last segment of a page.
type SegmentCursor struct {
	Time time.Time `json:"t"`
	ID   string    `json:"i"`
}

// ListSegments returns one page of live segments, newest first, and the cursor of the next page.
func (s *Store) ListSegments(ctx context.Context, pageSize int, after *SegmentCursor) ([]*tagging.Segment, *SegmentCursor, error) {
	args := []any{pageSize + 1}
	where := "deleted_at IS NULL"
	if after != nil {
		args = append(args, after.Time, after.ID)
		where += " AND (created_at, id) < ($2, $3)"
	}
	rows, err := s.pool.Query(ctx, `SELECT `+segmentColumns+` FROM segments WHERE `+where+` ORDER BY created_at DESC, id DESC LIMIT $1`, args...)
	if err != nil {
		return nil, nil, fmt.Errorf("list segments: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*tagging.Segment, error) {
		var g tagging.Segment
		return &g, row.Scan(segmentDest(&g)...)
	})
	if err != nil {
		return nil, nil, fmt.Errorf("list segments: %w", err)
	}
	if len(list) <= pageSize {
		return list, nil, nil
	}
	list = list[:pageSize]
	last := list[pageSize-1]
	return list, &SegmentCursor{Time: last.CreatedAt, ID: last.ID}, nil
}

// UpdateSegment loads the live segment FOR UPDATE, checks its version (when not zero), applies
// the change and saves it with its segment.updated event; with deleted set it soft-deletes the
// segment instead (apply may still refuse) and publishes segment.deleted.
func (s *Store) UpdateSegment(ctx context.Context, id string, version int64, deleted bool, apply func(*tagging.Segment) error, actor Actor) (*tagging.Segment, error) {
	var out *tagging.Segment
	err := pgdb.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		g, err := scanSegment(tx.QueryRow(ctx, `SELECT `+segmentColumns+` FROM segments WHERE id = $1 AND deleted_at IS NULL FOR UPDATE`, id))
		if err != nil {
			return err
		}
		if version != 0 && version != g.Version {
			return tagging.ErrStaleEtag
		}
		before := *g
		if err := apply(g); err != nil {
			return err
		}
		now := s.now()
		action := "updated"
		if deleted {
			action = "deleted"
			g.DeletedAt, g.DeletedBy = &now, actor.UserID
		}
		changes := tagging.DiffSegment(&before, g)
		if len(changes) == 0 {
			out = &before
			return nil
		}
		g.Version, g.UpdatedAt, g.UpdatedBy = before.Version+1, now, actor.UserID
		if _, err := tx.Exec(ctx, `UPDATE segments SET name = $2, name_key = $3, description = $4, expression = $5,
			updated_at = $6, updated_by = $7, deleted_at = $8, deleted_by = $9, version = $10 WHERE id = $1`,
			g.ID, g.Name, g.NameKey(), g.Description, g.Expression, g.UpdatedAt, g.UpdatedBy, g.DeletedAt, g.DeletedBy, g.Version); err != nil {
			if e := segmentUniqueError(err); e != err {
				return e
			}
			return fmt.Errorf("update segment: %w", err)
		}
		out = g
		return addEvent(ctx, tx, "segment", action, g.ID, g.Version, s.data.Segment(g), changes, actor)
	})
	return out, err
}
