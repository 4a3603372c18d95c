package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/crmsuite/crm/pkg/pgdb"
	"github.com/crmsuite/crm/services/tagging/internal/tagging"
)

// state is a customer's row in customer_state, locked for the transaction.
type state struct {
	customerID   string
	level        tagging.Level
	levelVersion int64
	tagsVersion  int64
}

const stateColumns = `customer_id, level, level_version, tags_version`

func scanState(row pgx.CollectableRow) (*state, error) {
	var st state
	err := row.Scan(&st.customerID, &st.level, &st.levelVersion, &st.tagsVersion)
	return &st, err
}

// lockState creates the customer's state row if needed and locks it: every change of one
// customer's tags holds this lock, so they happen one after the other.
func lockState(ctx context.Context, tx pgx.Tx, customerID string) (*state, error) {
	if _, err := tx.Exec(ctx, `INSERT INTO customer_state (customer_id) VALUES ($1) ON CONFLICT DO NOTHING`, customerID); err != nil {
		return nil, fmt.Errorf("create customer state: %w", err)
	}
	rows, err := tx.Query(ctx, `SELECT `+stateColumns+` FROM customer_state WHERE customer_id = $1 FOR UPDATE`, customerID)
	if err != nil {
		return nil, fmt.Errorf("lock customer state: %w", err)
	}
	st, err := pgx.CollectExactlyOneRow(rows, scanState)
	if err != nil {
		return nil, fmt.Errorf("lock customer state: %w", err)
	}
	return st, nil
}

func saveState(ctx context.Context, tx pgx.Tx, st *state) error {
	if _, err := tx.Exec(ctx, `UPDATE customer_state SET level = $2, level_version = $3, tags_version = $4 WHERE customer_id = $1`,
		st.customerID, st.level, st.levelVersion, st.tagsVersion); err != nil {
		return fmt.Errorf("save customer state: %w", err)
	}
	return nil
}

// querier is what both a pool and a transaction offer for reads.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// checkCustomer finds the customer in the projection within reach: ErrCustomerNotFound when it
// is unknown, out of reach, or (unless includeDeleted) deleted; ErrCustomerDeleted when live is
// required and it is deleted or merged.
func checkCustomer(ctx context.Context, q querier, customerID string, reach Reach, live, includeDeleted bool) error {
	args := []any{customerID}
	var deleted bool
	var mergedInto string
	err := q.QueryRow(ctx, `SELECT r.deleted, r.merged_into FROM customer_refs r WHERE r.customer_id = $1 AND `+reach.where(&args), args...).
		Scan(&deleted, &mergedInto)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return tagging.ErrCustomerNotFound
	case err != nil:
		return fmt.Errorf("read customer ref: %w", err)
	case live && (deleted || mergedInto != ""):
		return tagging.ErrCustomerDeleted
	case deleted && !includeDeleted:
		return tagging.ErrCustomerNotFound
	}
	return nil
}

// assignments lists a customer's tags by category, then name.
func assignments(ctx context.Context, q querier, customerID string) ([]*tagging.Assignment, error) {
	rows, err := q.Query(ctx, `SELECT ct.assigned_at, ct.assigned_by, `+prefixed(tagColumns, "t")+`
		FROM customer_tags ct JOIN tags t ON t.id = ct.tag_id
		WHERE ct.customer_id = $1 ORDER BY t.category_rank, t.name_key, t.id`, customerID)
	if err != nil {
		return nil, fmt.Errorf("read customer tags: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*tagging.Assignment, error) {
		a := &tagging.Assignment{CustomerID: customerID, Tag: &tagging.Tag{}}
		err := row.Scan(append([]any{&a.AssignedAt, &a.AssignedBy}, tagDest(a.Tag)...)...)
		return a, err
	})
	if err != nil {
		return nil, fmt.Errorf("read customer tags: %w", err)
	}
	return out, nil
}

// Assign gives a customer a live tag. A customer that has the tag already keeps it and nothing
// is written; otherwise the assignment, its history entry and its customer_tag.assigned event
// are written, a level tag replaces the previous level tag (removed with reason "replaced"), and
// a changed level publishes customer_level.changed — all in one transaction.
func (s *Store) Assign(ctx context.Context, customerID, tagID string, reach Reach, actor Actor) (*tagging.Assignment, error) {
	var out *tagging.Assignment
	err := pgdb.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		if err := checkCustomer(ctx, tx, customerID, reach, true, false); err != nil {
			return err
		}
		// The tag is share-locked before the customer's state: DeleteTag takes the same order.
		t, err := scanTag(tx.QueryRow(ctx, `SELECT `+tagColumns+` FROM tags WHERE id = $1 AND deleted_at IS NULL FOR SHARE`, tagID))
		if err != nil {
			return err
		}
		st, err := lockState(ctx, tx, customerID)
		if err != nil {
			return err
		}
		current, err := assignments(ctx, tx, customerID)
		if err != nil {
			return err
		}
		plan, err := tagging.PlanAssign(current, t)
		if err != nil || plan.Existing != nil {
			out = plan.Existing
			return err
		}
		now := s.now()
		for _, old := range plan.Replace {
			if _, err := s.removeOne(ctx, tx, st, old, "replaced", now, actor); err != nil {
				return err
			}
		}
		a := &tagging.Assignment{CustomerID: customerID, Tag: t, AssignedAt: now, AssignedBy: actor.UserID}
		if _, err := tx.Exec(ctx, `INSERT INTO customer_tags (customer_id, tag_id, category, assigned_at, assigned_by) VALUES ($1, $2, $3, $4, $5)`,
			customerID, t.ID, t.Category, now, actor.UserID); err != nil {
			return fmt.Errorf("assign tag: %w", err)
		}
		if err := addHistory(ctx, tx, a, "assigned", "", now, actor); err != nil {
			return err
		}
		st.tagsVersion++
		if err := addEvent(ctx, tx, "customer_tag", "assigned", customerID, st.tagsVersion, s.data.Assignment(a),
			[]tagging.Change{{Field: "tag_id", After: t.ID}, {Field: "tag_name", After: t.Name}}, actor); err != nil {
			return err
		}
		if t.Category == tagging.CategoryLevel {
			if err := s.setLevel(ctx, tx, st, t.LevelValue, actor); err != nil {
				return err
			}
		}
		out = a
		return saveState(ctx, tx, st)
	})
	return out, err
}

// Remove takes a tag off a live customer: ErrAssignmentNotFound when it does not have it.
func (s *Store) Remove(ctx context.Context, customerID, tagID string, reach Reach, actor Actor) error {
	return pgdb.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		if err := checkCustomer(ctx, tx, customerID, reach, true, false); err != nil {
			return err
		}
		st, err := lockState(ctx, tx, customerID)
		if err != nil {
			return err
		}
		var t tagging.Tag
		err = tx.QueryRow(ctx, `SELECT `+prefixed(tagColumns, "t")+` FROM customer_tags ct JOIN tags t ON t.id = ct.tag_id
			WHERE ct.customer_id = $1 AND ct.tag_id = $2`, customerID, tagID).Scan(tagDest(&t)...)
		if err != nil {
			return notFound(err, tagging.ErrAssignmentNotFound)
		}
		if _, err := s.removeOne(ctx, tx, st, &tagging.Assignment{CustomerID: customerID, Tag: &t}, "", s.now(), actor); err != nil {
			return err
		}
		if t.Category == tagging.CategoryLevel {
			if err := s.setLevel(ctx, tx, st, "", actor); err != nil {
				return err
			}
		}
		return saveState(ctx, tx, st)
	})
}

// removeOne deletes one assignment of a locked customer with its history entry and its
// customer_tag.removed event. It reports false when the customer no longer had the tag.
func (s *Store) removeOne(ctx context.Context, tx pgx.Tx, st *state, a *tagging.Assignment, reason string, now time.Time, actor Actor) (bool, error) {
	err := tx.QueryRow(ctx, `DELETE FROM customer_tags WHERE customer_id = $1 AND tag_id = $2 RETURNING assigned_at, assigned_by`,
		a.CustomerID, a.Tag.ID).Scan(&a.AssignedAt, &a.AssignedBy)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("remove tag: %w", err)
	}
	if err := addHistory(ctx, tx, a, "removed", reason, now, actor); err != nil {
		return false, err
	}
	st.tagsVersion++
	return true, addEvent(ctx, tx, "customer_tag", "removed", a.CustomerID, st.tagsVersion, s.data.Assignment(a),
		[]tagging.Change{{Field: "tag_id", Before: a.Tag.ID}, {Field: "tag_name", Before: a.Tag.Name}}, actor)
}

// setLevel records a locked customer's new level and, when it changed, publishes
// customer_level.changed with the next level version (the customer service ignores older ones).
func (s *Store) setLevel(ctx context.Context, tx pgx.Tx, st *state, level tagging.Level, actor Actor) error {
	if level == st.level {
		return nil
	}
	before := st.level
	st.level = level
	st.levelVersion++
	return addEvent(ctx, tx, "customer_level", "changed", st.customerID, st.levelVersion, s.data.Level(st.customerID, level),
		[]tagging.Change{{Field: "level", Before: nilIfEmpty(string(before)), After: nilIfEmpty(string(level))}}, actor)
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func addHistory(ctx context.Context, tx pgx.Tx, a *tagging.Assignment, action, reason string, now time.Time, actor Actor) error {
	if _, err := tx.Exec(ctx, `INSERT INTO tag_history (customer_id, tag_id, tag_name, category, action, reason, at, actor_id, actor_role, actor_team)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		a.CustomerID, a.Tag.ID, a.Tag.Name, a.Tag.Category, action, reason, now, actor.UserID, actor.Role, actor.TeamID); err != nil {
		return fmt.Errorf("write tag history: %w", err)
	}
	return nil
}

// CustomerTags returns the tags of a customer within reach and its level. Deleted customers are
// not found unless includeDeleted.
func (s *Store) CustomerTags(ctx context.Context, customerID string, reach Reach, includeDeleted bool) ([]*tagging.Assignment, tagging.Level, error) {
	if err := checkCustomer(ctx, s.pool, customerID, reach, false, includeDeleted); err != nil {
		return nil, "", err
	}
	list, err := assignments(ctx, s.pool, customerID)
	if err != nil {
		return nil, "", err
	}
	return list, tagging.LevelOf(list), nil
}

// HistoryInput selects one page of a customer's tag history.
type HistoryInput struct {
	CustomerID     string
	Reach          Reach
	IncludeDeleted bool
	PageSize       int
	// After is the id of the last entry of the previous page; 0 for the first page.
	After int64
}

// History returns one page of a customer's tag history, newest first, and the id to continue
// after (0 on the last page).
func (s *Store) History(ctx context.Context, in HistoryInput) ([]*tagging.HistoryEntry, int64, error) {
	if err := checkCustomer(ctx, s.pool, in.CustomerID, in.Reach, false, in.IncludeDeleted); err != nil {
		return nil, 0, err
	}
	after := in.After
	if after <= 0 {
		after = 1<<63 - 1
	}
	rows, err := s.pool.Query(ctx, `SELECT id, customer_id, tag_id, tag_name, category, action, reason, at, actor_id, actor_role, actor_team
		FROM tag_history WHERE customer_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3`, in.CustomerID, after, in.PageSize+1)
	if err != nil {
		return nil, 0, fmt.Errorf("read tag history: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*tagging.HistoryEntry, error) {
		var h tagging.HistoryEntry
		err := row.Scan(&h.ID, &h.CustomerID, &h.TagID, &h.TagName, &h.Category, &h.Action, &h.Reason, &h.At, &h.ActorID, &h.ActorRole, &h.ActorTeam)
		return &h, err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("read tag history: %w", err)
	}
	if len(list) <= in.PageSize {
		return list, 0, nil
	}
	list = list[:in.PageSize]
	return list, list[len(list)-1].ID, nil
}
