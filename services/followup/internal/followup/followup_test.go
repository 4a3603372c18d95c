package followup_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/crmsuite/crm/pkg/validate"
	"github.com/crmsuite/crm/services/followup/internal/followup"
)

var cst = time.FixedZone("CST", 8*3600)

// now is 2026-11-23 10:00 in China.
var now = time.Date(2026, 11, 23, 10, 0, 0, 0, cst)

func date(y int, m time.Month, d int) *followup.Date {
	return &followup.Date{Year: y, Month: m, Day: d}
}

func valid() *followup.FollowUp {
	return &followup.FollowUp{
		CustomerID: "CUST-20261101-0001", ContactName: "陈静", Method: followup.MethodPhone,
		ContactTime: now.Add(-time.Hour), Kind: followup.KindNeedFollowUp, Content: "客户关注交付周期，希望下周看方案。",
		NextAction: "发送方案", NextActionDue: date(2026, 11, 25), OwnerID: "u-sales1",
	}
}

// violations returns field → reason of a validation error.
func violations(t *testing.T, err error) map[string]string {
	t.Helper()
	if err == nil {
		return nil
	}
	var ve *validate.Error
	if !errors.As(err, &ve) {
		t.Fatalf("not a validation error: %v", err)
	}
	out := map[string]string{}
	for _, v := range ve.Violations {
		out[v.Field] = v.Reason
		if v.Message.ZH == "" || v.Message.EN == "" {
			t.Errorf("%s: message not bilingual: %+v", v.Field, v.Message)
		}
	}
	return out
}

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		change   func(f *followup.FollowUp)
		creating bool
		want     map[string]string
	}{
		{"valid", func(*followup.FollowUp) {}, true, nil},
		{"no next action at all", func(f *followup.FollowUp) { f.NextAction, f.NextActionDue = "", nil }, true, nil},
		{"required fields", func(f *followup.FollowUp) {
			*f = followup.FollowUp{}
		}, true, map[string]string{"contact_name": "REQUIRED", "method": "REQUIRED", "contact_time": "REQUIRED",
			"kind": "REQUIRED", "content": "REQUIRED", "owner_id": "REQUIRED"}},
		{"unknown enums", func(f *followup.FollowUp) { f.Method, f.Kind = "fax", "gossip" }, true,
			map[string]string{"method": "UNKNOWN_CODE", "kind": "UNKNOWN_CODE"}},
		{"content of 5000 runes", func(f *followup.FollowUp) { f.Content = strings.Repeat("字", 5000) }, true, nil},
		{"content of 5001 runes", func(f *followup.FollowUp) { f.Content = strings.Repeat("字", 5001) }, true,
			map[string]string{"content": "TOO_LONG"}},
		{"long texts", func(f *followup.FollowUp) {
			f.NextAction, f.CompetitorNotes, f.ContactName = strings.Repeat("a", 501), strings.Repeat("竞", 1001), strings.Repeat("名", 51)
		}, true, map[string]string{"next_action": "TOO_LONG", "competitor_notes": "TOO_LONG", "contact_name": "TOO_LONG"}},
		{"contact 4 minutes ahead is clock drift", func(f *followup.FollowUp) { f.ContactTime = now.Add(4 * time.Minute) }, true, nil},
		{"contact 10 minutes ahead", func(f *followup.FollowUp) { f.ContactTime = now.Add(10 * time.Minute) }, true,
			map[string]string{"contact_time": "IN_FUTURE"}},
		{"contact before 2000", func(f *followup.FollowUp) { f.ContactTime = time.Date(1999, 5, 1, 0, 0, 0, 0, cst) }, true,
			map[string]string{"contact_time": "OUT_OF_RANGE"}},
		{"next action without due date", func(f *followup.FollowUp) { f.NextActionDue = nil }, true,
			map[string]string{"next_action_due_date": "REQUIRED"}},
		{"due date without next action", func(f *followup.FollowUp) { f.NextAction = "" }, true,
			map[string]string{"next_action_due_date": "NOT_ALLOWED"}},
		{"due today on create", func(f *followup.FollowUp) { f.NextActionDue = date(2026, 11, 23) }, true, nil},
		{"due yesterday on create", func(f *followup.FollowUp) { f.NextActionDue = date(2026, 11, 22) }, true,
			map[string]string{"next_action_due_date": "OUT_OF_RANGE"}},
		{"due yesterday on update", func(f *followup.FollowUp) { f.NextActionDue = date(2026, 11, 22) }, false, nil},
		{"impossible date", func(f *followup.FollowUp) { f.NextActionDue = date(2026, 2, 30) }, false,
			map[string]string{"next_action_due_date": "INVALID_FORMAT"}},
		{"due in ten years", func(f *followup.FollowUp) { f.NextActionDue = date(2036, 11, 23) }, false,
			map[string]string{"next_action_due_date": "OUT_OF_RANGE"}},
		{"owner id too long", func(f *followup.FollowUp) { f.OwnerID = strings.Repeat("u", 65) }, true,
			map[string]string{"owner_id": "TOO_LONG"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := valid()
			tt.change(f)
			f.Normalise()
			got := violations(t, f.Validate(now, tt.creating))
			if len(got) != len(tt.want) {
				t.Fatalf("violations = %v, want %v", got, tt.want)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("%s: %q, want %q (all: %v)", k, got[k], v, got)
				}
			}
		})
	}
}

func TestNormaliseTrims(t *testing.T) {
	t.Parallel()
	f := valid()
	f.Content, f.ContactName = "  第一行\n第二行 \n", " 陈静 "
	f.ContactTime = time.Date(2026, 11, 23, 9, 0, 0, 123456789, cst)
	f.Normalise()
	if f.Content != "第一行\n第二行" || f.ContactName != "陈静" || f.ContactTime.Nanosecond() != 123456000 {
		t.Fatalf("normalised: %q %q %v", f.Content, f.ContactName, f.ContactTime)
	}
}

func TestTodayIsChinasCalendarDay(t *testing.T) {
	t.Parallel()
	tests := []struct {
		at   time.Time
		want followup.Date
	}{
		{time.Date(2026, 11, 22, 15, 59, 0, 0, time.UTC), followup.Date{Year: 2026, Month: 11, Day: 22}},
		// 16:00 UTC is midnight in Shanghai: already the next day there.
		{time.Date(2026, 11, 22, 16, 0, 0, 0, time.UTC), followup.Date{Year: 2026, Month: 11, Day: 23}},
		{time.Date(2026, 12, 31, 23, 0, 0, 0, time.UTC), followup.Date{Year: 2027, Month: 1, Day: 1}},
	}
	for _, tt := range tests {
		if got := followup.Today(tt.at); got != tt.want {
			t.Errorf("Today(%v) = %v, want %v", tt.at, got, tt.want)
		}
	}
}

func TestCompleteStateMachine(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		prepare func(f *followup.FollowUp)
		want    error
	}{
		{"open action", func(*followup.FollowUp) {}, nil},
		{"already done", func(f *followup.FollowUp) { f.Done = true }, followup.ErrAlreadyDone},
		{"no next action", func(f *followup.FollowUp) { f.NextAction, f.NextActionDue = "", nil }, followup.ErrNoNextAction},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := valid()
			tt.prepare(f)
			wasDone := f.Done
			err := f.Complete("u-sales1", now)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Complete = %v, want %v", err, tt.want)
			}
			if err != nil {
				if f.Done != wasDone || f.DoneAt != nil {
					t.Fatalf("a refused completion changed the record: %+v", f)
				}
				return
			}
			if !f.Done || f.DoneBy != "u-sales1" || !f.DoneAt.Equal(now) {
				t.Fatalf("completed: %+v", f)
			}
		})
	}
}

func TestApplyMask(t *testing.T) {
	t.Parallel()
	done := func() *followup.FollowUp {
		f := valid()
		if err := f.Complete("u-sales1", now); err != nil {
			t.Fatal(err)
		}
		return f
	}
	tests := []struct {
		name         string
		start        func() *followup.FollowUp
		patch        followup.FollowUp
		paths        []string
		ownerAllowed bool
		wantErr      map[string]string
		check        func(t *testing.T, f *followup.FollowUp)
	}{
		{name: "content only keeps done", start: done, patch: followup.FollowUp{Content: "补充：客户要求报价"}, paths: []string{"content"},
			check: func(t *testing.T, f *followup.FollowUp) {
				if !f.Done || f.Content != "补充：客户要求报价" {
					t.Fatalf("%+v", f)
				}
			}},
		{name: "new next action reopens", start: done, patch: followup.FollowUp{NextAction: "电话回访", NextActionDue: date(2026, 12, 1)},
			paths: []string{"next_action", "next_action_due_date"},
			check: func(t *testing.T, f *followup.FollowUp) {
				if f.Done || f.DoneAt != nil || f.DoneBy != "" || f.NextAction != "电话回访" {
					t.Fatalf("not reopened: %+v", f)
				}
			}},
		{name: "moved due date reopens", start: done, patch: followup.FollowUp{NextActionDue: date(2026, 12, 2)},
			paths: []string{"next_action_due_date"},
			check: func(t *testing.T, f *followup.FollowUp) {
				if f.Done {
					t.Fatal("still done")
				}
			}},
		{name: "clearing next action clears due date", start: valid, patch: followup.FollowUp{}, paths: []string{"next_action"},
			check: func(t *testing.T, f *followup.FollowUp) {
				if f.NextAction != "" || f.NextActionDue != nil {
					t.Fatalf("%+v", f)
				}
			}},
		{name: "empty mask", start: valid, wantErr: map[string]string{"update_mask": "REQUIRED"}},
		{name: "done is not updatable", start: valid, paths: []string{"done"}, wantErr: map[string]string{"update_mask": "NOT_ALLOWED"}},
		{name: "customer is not updatable", start: valid, paths: []string{"customer_id"}, wantErr: map[string]string{"update_mask": "NOT_ALLOWED"}},
		{name: "unknown path", start: valid, paths: []string{"mobile"}, wantErr: map[string]string{"update_mask": "NOT_ALLOWED"}},
		{name: "owner needs permission", start: valid, patch: followup.FollowUp{OwnerID: "u-sales2"}, paths: []string{"owner_id"},
			wantErr: map[string]string{"owner_id": "NOT_ALLOWED"}},
		{name: "owner by manager", start: valid, patch: followup.FollowUp{OwnerID: "u-sales2"}, paths: []string{"owner_id"}, ownerAllowed: true,
			check: func(t *testing.T, f *followup.FollowUp) {
				if f.OwnerID != "u-sales2" {
					t.Fatal(f.OwnerID)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := tt.start()
			before := *f
			err := f.ApplyMask(&tt.patch, tt.paths, tt.ownerAllowed)
			got := violations(t, err)
			if len(got) != len(tt.wantErr) {
				t.Fatalf("violations = %v, want %v", got, tt.wantErr)
			}
			for k, v := range tt.wantErr {
				if got[k] != v {
					t.Errorf("%s: %q, want %q", k, got[k], v)
				}
			}
			if err != nil {
				if len(followup.Diff(&before, f)) != 0 {
					t.Fatalf("a refused mask changed the record: %v", followup.Diff(&before, f))
				}
				return
			}
			tt.check(t, f)
		})
	}
}

func TestOverdue(t *testing.T) {
	t.Parallel()
	today := followup.Date{Year: 2026, Month: 11, Day: 23}
	tests := []struct {
		name string
		due  *followup.Date
		done bool
		want int
	}{
		{"due today", date(2026, 11, 23), false, 0},
		{"due yesterday", date(2026, 11, 22), false, 1},
		{"due last month", date(2026, 10, 23), false, 31},
		{"done long ago", date(2026, 10, 23), true, 0},
		{"tomorrow", date(2026, 11, 24), false, 0},
	}
	for _, tt := range tests {
		f := valid()
		f.NextActionDue, f.Done = tt.due, tt.done
		if got := f.DaysOverdue(today); got != tt.want || f.Overdue(today) != (tt.want > 0) {
			t.Errorf("%s: DaysOverdue = %d, want %d", tt.name, got, tt.want)
		}
	}
}

func TestDiff(t *testing.T) {
	t.Parallel()
	before := valid()
	after := *before
	after.Content = "新的内容"
	if err := after.Complete("u-service", now); err != nil {
		t.Fatal(err)
	}
	var fields []string
	for _, c := range followup.Diff(before, &after) {
		fields = append(fields, c.Field)
	}
	if !slices.Equal(fields, []string{"content", "done", "done_time", "done_by"}) {
		t.Fatalf("diff fields = %v", fields)
	}
	created := followup.Diff(nil, before)
	if len(created) < 8 || created[0].Field != "customer_id" {
		t.Fatalf("create diff = %v", created)
	}
}

func TestParseFilter(t *testing.T) {
	t.Parallel()
	all := []string{"method", "kind", "done", "owner_id", "customer_id", "contact_time"}
	conds, err := followup.ParseFilter(`method = CONTACT_METHOD_PHONE AND kind != contract and done = TRUE AND contact_time >= "2026-11-01" AND customer_id = cust-20261101-0001`, all...)
	if err != nil {
		t.Fatal(err)
	}
	want := []followup.Condition{
		{Field: "method", Op: "=", Value: "phone"},
		{Field: "kind", Op: "!=", Value: "contract"},
		{Field: "done", Op: "=", Value: "true"},
		{Field: "contact_time", Op: ">=", Value: "2026-11-01", Time: time.Date(2026, 11, 1, 0, 0, 0, 0, cst)},
		{Field: "customer_id", Op: "=", Value: "CUST-20261101-0001"},
	}
	if len(conds) != len(want) {
		t.Fatalf("conds = %+v", conds)
	}
	for i := range want {
		if conds[i].Field != want[i].Field || conds[i].Op != want[i].Op || conds[i].Value != want[i].Value || !conds[i].Time.Equal(want[i].Time) {
			t.Errorf("cond %d = %+v, want %+v", i, conds[i], want[i])
		}
	}
	for _, bad := range []string{
		`method = fax`, `done = maybe`, `kind < contract`, `mobile = 1`, `method = phone OR kind = other`, `method =`, `content = "x`,
		`customer_id = CUST-1`, // not allowed in this list
	} {
		if _, err := followup.ParseFilter(bad, "method", "kind", "done", "contact_time"); err == nil {
			t.Errorf("filter %q accepted", bad)
		}
	}
}

func TestParseOrder(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]followup.Order{
		"":                 {Field: "contact_time", Desc: true},
		"contact_time":     {Field: "contact_time"},
		"create_time desc": {Field: "create_time", Desc: true},
		"update_time ASC":  {Field: "update_time"},
	} {
		got, err := followup.ParseOrder(in)
		if err != nil || got != want {
			t.Errorf("ParseOrder(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"name", "contact_time sideways", "a b c"} {
		if _, err := followup.ParseOrder(bad); err == nil {
			t.Errorf("order %q accepted", bad)
		}
	}
}
