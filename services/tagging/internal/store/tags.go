package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/crmsuite/crm/pkg/pgdb"
	"github.com/crmsuite/crm/services/tagging/internal/tagging"
)

const tagColumns = `id, category, name, description, color, level_value, created_at, created_by, updated_at,
	updated_by, deleted_at, deleted_by, version`

// prefixed qualifies every column of a column list with a table alias.
func prefixed(columns, alias string) string {
	parts := strings.Split(columns, ",")
	for i, p := range parts {
		parts[i] = alias + "." + strings.TrimSpace(p)
	}
	return strings.Join(parts, ", ")
}

// tagDest returns the scan destinations of tagColumns for t.
func tagDest(t *tagging.Tag) []any {
	return []any{&t.ID, &t.Category, &t.Name, &t.Description, &t.Color, &t.LevelValue, &t.CreatedAt, &t.CreatedBy,
		&t.UpdatedAt, &t.UpdatedBy, &t.DeletedAt, &t.DeletedBy, &t.Version}
}

func scanTag(row pgx.Row) (*tagging.Tag, error) {
	var t tagging.Tag
	if err := row.Scan(tagDest(&t)...); err != nil {
		return nil, notFound(err, tagging.ErrTagNotFound)
	}
	return &t, nil
}

// tagUniqueError maps the unique indexes of tags to domain errors.
func tagUniqueError(err error) error {
	switch name, _ := pgdb.UniqueViolation(err); name {
	case "tags_name_live":
		return tagging.ErrTagNameTaken
	case "tags_level_live":
		return tagging.ErrLevelTaken
	}
	return err
}

// CreateTag stores a new, validated tag and its tag.created event. A repeated request id returns
// the first result.
func (s *Store) CreateTag(ctx context.Context, t *tagging.Tag, req Request, actor Actor) (*tagging.Tag, error) {
	// The id comes from a block reserved outside the transaction: a rolled-back create leaves a gap.
	id, err := s.tagIDs.Next(ctx)
	if err != nil {
		return nil, fmt.Errorf("allocate tag id: %w", err)
	}
	now := s.now()
	t.ID, t.CreatedAt, t.UpdatedAt, t.CreatedBy, t.UpdatedBy, t.Version = id, now, now, actor.UserID, actor.UserID, 1
	var prior string
	err = pgdb.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		if req.ID != "" {
			if prior, err = claimRequest(ctx, tx, "tag", actor.UserID, req, id); err != nil || prior != "" {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `INSERT INTO tags (`+tagColumns+`, category_rank, name_key)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
			t.ID, t.Category, t.Name, t.Description, t.Color, t.LevelValue, t.CreatedAt, t.CreatedBy, t.UpdatedAt,
			t.UpdatedBy, t.DeletedAt, t.DeletedBy, t.Version, t.Category.Rank(), t.NameKey()); err != nil {
			if e := tagUniqueError(err); e != err {
				return e
			}
			return fmt.Errorf("insert tag: %w", err)
		}
		return addEvent(ctx, tx, "tag", "created", t.ID, t.Version, s.data.Tag(t), tagging.DiffTag(nil, t), actor)
	})
	if err != nil {
		return nil, err
	}
	if prior != "" {
		return s.GetTag(ctx, prior)
	}
	return t, nil
}

// GetTag returns one tag, deleted or not.
func (s *Store) GetTag(ctx context.Context, id string) (*tagging.Tag, error) {
	return scanTag(s.pool.QueryRow(ctx, `SELECT `+tagColumns+` FROM tags WHERE id = $1`, id))
}

// TagCursor is the position after the last tag of a page.
type TagCursor struct {
	Rank int    `json:"r"`
	Key  string `json:"k"`
	ID   string `json:"i"`
}

// ListTagsInput selects one page of tags.
type ListTagsInput struct {
	// Category limits the list to one category; empty for all.
	Category    tagging.Category
	ShowDeleted bool
	PageSize    int
	After       *TagCursor
}

// ListTags returns one page of tags by category, then name, and the cursor of the next page (nil
// on the last page).
func (s *Store) ListTags(ctx context.Context, in ListTagsInput) ([]*tagging.Tag, *TagCursor, error) {
	var args []any
	where := []string{"true"}
	if in.Category != "" {
		args = append(args, in.Category)
		where = append(where, fmt.Sprintf("category = $%d", len(args)))
	}
	if !in.ShowDeleted {
		where = append(where, "deleted_at IS NULL")
	}
	if in.After != nil {
		args = append(args, in.After.Rank, in.After.Key, in.After.ID)
		n := len(args)
		where = append(where, fmt.Sprintf("(category_rank, name_key, id) > ($%d, $%d, $%d)", n-2, n-1, n))
	}
	args = append(args, in.PageSize+1)
	rows, err := s.pool.Query(ctx, fmt.Sprintf(`SELECT %s, category_rank, name_key FROM tags WHERE %s
		ORDER BY category_rank, name_key, id LIMIT $%d`, tagColumns, strings.Join(where, " AND "), len(args)), args...)
	if err != nil {
		return nil, nil, fmt.Errorf("list tags: %w", err)
	}
	defer rows.Close()
	var out []*tagging.Tag
	var last TagCursor
	for rows.Next() {
		var t tagging.Tag
		var c TagCursor
		if err := rows.Scan(append(tagDest(&t), &c.Rank, &c.Key)...); err != nil {
			return nil, nil, fmt.Errorf("list tags: %w", err)
		}
		if len(out) == in.PageSize {
			return out, &last, nil
		}
		c.ID = t.ID
		last = c
		out = append(out, &t)
	}
	return out, nil, rows.Err()
}

// UpdateTag loads the live tag FOR UPDATE, checks its version (when not zero), applies the
// change, and saves it with its tag.updated event. A change that changes nothing saves nothing.
func (s *Store) UpdateTag(ctx context.Context, id string, version int64, apply func(*tagging.Tag) error, actor Actor) (*tagging.Tag, error) {
	var out *tagging.Tag
	err := pgdb.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		t, err := scanTag(tx.QueryRow(ctx, `SELECT `+tagColumns+` FROM tags WHERE id = $1 AND deleted_at IS NULL FOR UPDATE`, id))
		if err != nil {
			return err
		}
		if version != 0 && version != t.Version {
			return tagging.ErrStaleEtag
		}
		before := *t
		if err := apply(t); err != nil {
			return err
		}
		changes := tagging.DiffTag(&before, t)
		if len(changes) == 0 {
			out = &before
			return nil
		}
		t.Version, t.UpdatedAt, t.UpdatedBy = before.Version+1, s.now(), actor.UserID
		if _, err := tx.Exec(ctx, `UPDATE tags SET name = $2, name_key = $3, description = $4, color = $5,
			updated_at = $6, updated_by = $7, version = $8 WHERE id = $1`,
			t.ID, t.Name, t.NameKey(), t.Description, t.Color, t.UpdatedAt, t.UpdatedBy, t.Version); err != nil {
			if e := tagUniqueError(err); e != err {
				return e
			}
			return fmt.Errorf("update tag: %w", err)
		}
		out = t
		return addEvent(ctx, tx, "tag", "updated", t.ID, t.Version, s.data.Tag(t), changes, actor)
	})
	return out, err
}

// DeleteTag soft-deletes a live tag (checking its version when not zero) and removes its
// assignments, each with a history entry and a customer_tag.removed event; customers that lose a
// level tag lose their level (customer_level.changed). All in one transaction.
func (s *Store) DeleteTag(ctx context.Context, id string, version int64, actor Actor) (*tagging.Tag, error) {
	var out *tagging.Tag
	err := pgdb.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		// Locking the tag first blocks new assignments of it (they share-lock it), and every writer
		// takes the tag before the customers' state rows, so writers cannot deadlock.
		t, err := scanTag(tx.QueryRow(ctx, `SELECT `+tagColumns+` FROM tags WHERE id = $1 AND deleted_at IS NULL FOR UPDATE`, id))
		if err != nil {
			return err
		}
		if version != 0 && version != t.Version {
			return tagging.ErrStaleEtag
		}
		before := *t
		now := s.now()
		t.DeletedAt, t.DeletedBy, t.UpdatedAt, t.UpdatedBy, t.Version = &now, actor.UserID, now, actor.UserID, t.Version+1
		if _, err := tx.Exec(ctx, `UPDATE tags SET deleted_at = $2, deleted_by = $3, updated_at = $4, updated_by = $5, version = $6 WHERE id = $1`,
			t.ID, t.DeletedAt, t.DeletedBy, t.UpdatedAt, t.UpdatedBy, t.Version); err != nil {
			return fmt.Errorf("delete tag: %w", err)
		}
		if err := addEvent(ctx, tx, "tag", "deleted", t.ID, t.Version, s.data.Tag(t), tagging.DiffTag(&before, t), actor); err != nil {
			return err
		}
		out = t
		return s.unassignAll(ctx, tx, &before, now, actor)
	})
	return out, err
}

// unassignAll removes a deleted tag from every customer that has it.
func (s *Store) unassignAll(ctx context.Context, tx pgx.Tx, t *tagging.Tag, now time.Time, actor Actor) error {
	// Lock the customers' state rows in id order (no new assignments can appear: the tag is locked).
	rows, err := tx.Query(ctx, `SELECT `+stateColumns+` FROM customer_state
		WHERE customer_id IN (SELECT customer_id FROM customer_tags WHERE tag_id = $1)
		ORDER BY customer_id FOR UPDATE`, t.ID)
	if err != nil {
		return fmt.Errorf("lock customers of tag %s: %w", t.ID, err)
	}
	states, err := pgx.CollectRows(rows, scanState)
	if err != nil {
		return fmt.Errorf("lock customers of tag %s: %w", t.ID, err)
	}
	for _, st := range states {
		a := &tagging.Assignment{CustomerID: st.customerID, Tag: t}
		removed, err := s.removeOne(ctx, tx, st, a, "tag_deleted", now, actor)
		if err != nil {
			return err
		}
		if !removed {
			continue // removed by someone else while we waited for the lock
		}
		if t.Category == tagging.CategoryLevel {
			if err := s.setLevel(ctx, tx, st, "", actor); err != nil {
				return err
			}
		}
		if err := saveState(ctx, tx, st); err != nil {
			return err
		}
	}
	return nil
}
