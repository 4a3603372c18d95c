package outbox

import (
	"context"
	"errors"
	"net/url"
	"testing"

	"github.com/crmsuite/crm/pkg/events"
	"github.com/crmsuite/crm/pkg/pgdb"
	"github.com/crmsuite/crm/pkg/testkit"
	commonv1 "github.com/crmsuite/crm/proto/gen/go/crm/common/v1"
	eventsv1 "github.com/crmsuite/crm/proto/gen/go/crm/events/v1"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// TestCommitsSignalsCommittedOutboxWritesOnly drives every way a service writes the outbox, and
// ways a transaction can fail, through a pool of one connection (so each case also sees what
// earlier cases left on it), and checks after each whether Commits signalled.
func TestCommitsSignalsCommittedOutboxWritesOnly(t *testing.T) {
	ctx := context.Background()
	commits := NewCommits()
	u, err := url.Parse(testkit.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("pool_max_conns", "1")
	u.RawQuery = q.Encode()
	pool, err := pgdb.Connect(ctx, u.String(), "svc", commits)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if err := pgdb.Migrate(ctx, pool, "svc", "outbox", Migrations); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `CREATE TABLE svc.t (v int CHECK (v > 0))`); err != nil {
		t.Fatal(err)
	}
	errBusiness := errors.New("business rule failed")

	cases := []struct {
		name   string
		write  func(t *testing.T) error
		signal bool
	}{{
		name: "Add, committed",
		write: func(t *testing.T) error {
			return pgdb.InTx(ctx, pool, func(tx pgx.Tx) error { return Add(ctx, tx, event(t)) })
		},
		signal: true,
	}, {
		name: "Add, rolled back",
		write: func(t *testing.T) error {
			err := pgdb.InTx(ctx, pool, func(tx pgx.Tx) error {
				if err := Add(ctx, tx, event(t)); err != nil {
					return err
				}
				return errBusiness
			})
			if !errors.Is(err, errBusiness) {
				return err
			}
			return nil
		},
	}, {
		// The rolled-back Add above must not make this commit look like an outbox write.
		name: "a commit without outbox rows",
		write: func(*testing.T) error {
			return pgdb.InTx(ctx, pool, func(tx pgx.Tx) error {
				_, err := tx.Exec(ctx, `INSERT INTO t VALUES (1)`)
				return err
			})
		},
	}, {
		name: "Add, then COMMIT of the failed transaction answers ROLLBACK",
		write: func(t *testing.T) error {
			err := pgdb.InTx(ctx, pool, func(tx pgx.Tx) error {
				if err := Add(ctx, tx, event(t)); err != nil {
					return err
				}
				_, _ = tx.Exec(ctx, `INSERT INTO t VALUES (-1)`) // fails, ignored: the commit will not be
				return nil
			})
			if !errors.Is(err, pgx.ErrTxCommitRollback) {
				t.Errorf("InTx = %v, want ErrTxCommitRollback", err)
			}
			return nil
		},
	}, {
		name:  "a commit without outbox rows, after the refused COMMIT",
		write: func(*testing.T) error { _, err := pool.Exec(ctx, `INSERT INTO t VALUES (2)`); return err },
	}, {
		name: "Queue in a pipelined transaction, COMMIT in the batch",
		write: func(t *testing.T) error {
			return batchTx(ctx, pool, event(t), 3)
		},
		signal: true,
	}, {
		name: "Queue in a pipelined transaction with a failing statement",
		write: func(t *testing.T) error {
			if err := batchTx(ctx, pool, event(t), -3); err == nil {
				t.Error("the batch with a failing statement committed")
			}
			return nil
		},
	}, {
		name: "a pipelined commit without outbox rows",
		write: func(*testing.T) error {
			return pgdb.InBatchTx(ctx, pool, func(conn *pgxpool.Conn) error {
				b := &pgx.Batch{}
				b.Queue("BEGIN")
				b.Queue(`INSERT INTO t VALUES (4)`)
				b.Queue("COMMIT")
				return pgdb.SendBatch(ctx, conn, b, func(br pgx.BatchResults) error {
					for range 2 {
						if _, err := br.Exec(); err != nil {
							return err
						}
					}
					return pgdb.ReadCommit(br)
				})
			})
		},
	}, {
		name: "COPY into the outbox, committed",
		write: func(t *testing.T) error {
			return pgdb.InTx(ctx, pool, func(tx pgx.Tx) error {
				msg, err := events.Message(event(t))
				if err != nil {
					return err
				}
				_, err = tx.CopyFrom(ctx, pgx.Identifier{"outbox"}, []string{"event_id", "subject", "payload"},
					pgx.CopyFromRows([][]any{{uuid.New(), msg.Subject, msg.Data}}))
				return err
			})
		},
		signal: true,
	}}
	for _, c := range cases {
		if err := c.write(t); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		signalled := false
		select {
		case <-commits.c:
			signalled = true
		default:
		}
		if signalled != c.signal {
			t.Errorf("%s: signalled = %v, want %v", c.name, signalled, c.signal)
		}
	}
}

// batchTx writes ev with Queue and v into t in one pipelined transaction (pgdb.InBatchTx); a v
// below 1 fails the insert, and the transaction rolls back.
func batchTx(ctx context.Context, pool *pgxpool.Pool, ev *eventsv1.Event, v int) error {
	return pgdb.InBatchTx(ctx, pool, func(conn *pgxpool.Conn) error {
		b := &pgx.Batch{}
		b.Queue("BEGIN")
		if err := Queue(b, ev); err != nil {
			return err
		}
		b.Queue(`INSERT INTO t VALUES ($1)`, v)
		b.Queue("COMMIT")
		return pgdb.SendBatch(ctx, conn, b, func(br pgx.BatchResults) error {
			var errs []error
			for range 3 {
				_, err := br.Exec()
				errs = append(errs, err)
			}
			errs = append(errs, pgdb.ReadCommit(br))
			return errors.Join(errs...)
		})
	})
}

func event(t *testing.T) *eventsv1.Event {
	t.Helper()
	ev, err := events.New(context.Background(), "customer", "customer", "created", "CUST-20261202-0001",
		&commonv1.Actor{UserId: "u-1", Role: "sales"}, 1, wrapperspb.String("body"), nil)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}
