package feedback_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/crmsuite/crm/pkg/validate"
	"github.com/crmsuite/crm/services/feedback/internal/feedback"
)

// t0 is a fixed creation time: 2026-11-23 09:00 in China.
var t0 = time.Date(2026, 11, 23, 1, 0, 0, 0, time.UTC)

const sla = 24 * time.Hour

func newFeedback(t feedback.Type) *feedback.Feedback {
	f := feedback.New("CUST-20261123-0001", t, "发票开错了，要求重开", feedback.ChannelPhone, t0, sla)
	f.Normalise()
	return f
}

// violations returns field → reason of a validation error, nil for other errors.
func violations(err error) map[string]string {
	var ve *validate.Error
	if !errors.As(err, &ve) {
		return nil
	}
	out := map[string]string{}
	for _, v := range ve.Violations {
		out[v.Field] = v.Reason
	}
	return out
}

// TestTransitionTable checks every (type, from, to) against the state machine written out by hand:
// pending → in_progress, in_progress → resolved, resolved → closed | in_progress, and pending →
// closed for everything but complaints. Nothing leaves closed; no status moves to itself.
func TestTransitionTable(t *testing.T) {
	t.Parallel()
	allowed := map[string]bool{
		"pending>in_progress":  true,
		"in_progress>resolved": true,
		"resolved>closed":      true,
		"resolved>in_progress": true,
	}
	for _, typ := range feedback.Types {
		for _, from := range feedback.Statuses {
			for _, to := range feedback.Statuses {
				key := string(from) + ">" + string(to)
				want := allowed[key] || (key == "pending>closed" && typ != feedback.TypeComplaint)
				t.Run(string(typ)+"/"+key, func(t *testing.T) {
					t.Parallel()
					if got := feedback.CanTransition(typ, from, to); got != want {
						t.Fatalf("CanTransition = %v, want %v", got, want)
					}
					if got := slices.Contains(feedback.AllowedTransitions(typ, from), to); got != want {
						t.Fatalf("AllowedTransitions contains %v = %v, want %v", to, got, want)
					}
					// ChangeStatus refuses exactly the illegal ones with a TransitionError.
					f := newFeedback(typ)
					f.Status, f.Plan, f.Result = from, "更换发票", "已重开发票并寄出"
					err := f.ChangeStatus(to, "客户要求", "u-service", t0.Add(time.Hour))
					var te *feedback.TransitionError
					if isTE := errors.As(err, &te); isTE == want {
						t.Fatalf("ChangeStatus(%s → %s) = %v", from, to, err)
					}
					if !want && (!errors.Is(err, feedback.ErrIllegalTransition) || te.From != from || te.To != to) {
						t.Fatalf("transition error = %+v", te)
					}
					if want && (err != nil || f.Status != to) {
						t.Fatalf("ChangeStatus(%s → %s) = %v, status %s", from, to, err, f.Status)
					}
				})
			}
		}
	}
}

func TestChangeStatusEffects(t *testing.T) {
	t.Parallel()
	at := t0.Add(3 * time.Hour)
	tests := []struct {
		name   string
		typ    feedback.Type
		setup  func(f *feedback.Feedback)
		to     feedback.Status
		reason string
		// wantErr lists the fields of the expected validation error, nil for success.
		wantErr []string
		check   func(t *testing.T, f *feedback.Feedback)
	}{
		{
			name: "starting records the first response and takes the handler", typ: feedback.TypeComplaint, to: feedback.StatusInProgress,
			check: func(t *testing.T, f *feedback.Feedback) {
				if f.FirstResponseAt == nil || !f.FirstResponseAt.Equal(at) || f.HandlerID != "u-actor" {
					t.Fatalf("first response %v, handler %q", f.FirstResponseAt, f.HandlerID)
				}
			},
		},
		{
			name: "starting keeps an assigned handler", typ: feedback.TypeComplaint, to: feedback.StatusInProgress,
			setup: func(f *feedback.Feedback) { f.HandlerID = "u-agent" },
			check: func(t *testing.T, f *feedback.Feedback) {
				if f.HandlerID != "u-agent" {
					t.Fatalf("handler %q", f.HandlerID)
				}
			},
		},
		{
			name: "resolving needs plan and result", typ: feedback.TypeSuggestion, to: feedback.StatusResolved,
			setup:   func(f *feedback.Feedback) { f.Status = feedback.StatusInProgress },
			wantErr: []string{"plan", "result"},
		},
		{
			name: "resolving stamps the resolve time", typ: feedback.TypeSuggestion, to: feedback.StatusResolved,
			setup: func(f *feedback.Feedback) { f.Status, f.Plan, f.Result = feedback.StatusInProgress, "方案", "结果" },
			check: func(t *testing.T, f *feedback.Feedback) {
				if f.ResolvedAt == nil || !f.ResolvedAt.Equal(at) || f.FirstResponseAt != nil {
					t.Fatalf("resolved %v first response %v", f.ResolvedAt, f.FirstResponseAt)
				}
			},
		},
		{
			name: "reopening needs a reason", typ: feedback.TypeComplaint, to: feedback.StatusInProgress,
			setup:   func(f *feedback.Feedback) { f.Status, f.Plan, f.Result = feedback.StatusResolved, "方案", "结果" },
			wantErr: []string{"reason"},
		},
		{
			name: "reopening clears resolve time and satisfaction, keeps first response", typ: feedback.TypeComplaint,
			to: feedback.StatusInProgress, reason: "客户反映问题未解决",
			setup: func(f *feedback.Feedback) {
				first, resolved := t0.Add(time.Hour), t0.Add(2*time.Hour)
				f.Status, f.Plan, f.Result, f.Satisfaction = feedback.StatusResolved, "方案", "结果", 2
				f.FirstResponseAt, f.ResolvedAt, f.HandlerID = &first, &resolved, "u-agent"
			},
			check: func(t *testing.T, f *feedback.Feedback) {
				if f.ResolvedAt != nil || f.Satisfaction != 0 || !f.FirstResponseAt.Equal(t0.Add(time.Hour)) ||
					f.HandlerID != "u-agent" || f.StatusReason != "客户反映问题未解决" || f.Result != "结果" {
					t.Fatalf("after reopen: %+v", f)
				}
			},
		},
		{
			name: "closing untouched praise needs a reason", typ: feedback.TypePraise, to: feedback.StatusClosed,
			wantErr: []string{"reason"},
		},
		{
			name: "closing untouched praise records response and close", typ: feedback.TypePraise, to: feedback.StatusClosed, reason: "无需处理",
			check: func(t *testing.T, f *feedback.Feedback) {
				if f.ClosedAt == nil || f.FirstResponseAt == nil || f.HandlerID != "" {
					t.Fatalf("closed %v first response %v handler %q", f.ClosedAt, f.FirstResponseAt, f.HandlerID)
				}
			},
		},
		{
			name: "closing resolved feedback needs no reason", typ: feedback.TypeComplaint, to: feedback.StatusClosed,
			setup: func(f *feedback.Feedback) { f.Status, f.Plan, f.Result = feedback.StatusResolved, "方案", "结果" },
			check: func(t *testing.T, f *feedback.Feedback) {
				if f.ClosedAt == nil || !f.ClosedAt.Equal(at) {
					t.Fatalf("closed %v", f.ClosedAt)
				}
			},
		},
		{
			name: "a long reason is refused", typ: feedback.TypeComplaint, to: feedback.StatusInProgress, reason: strings.Repeat("因", 501),
			wantErr: []string{"reason"},
		},
		{
			name: "an unknown status is refused", typ: feedback.TypeComplaint, to: feedback.Status("archived"),
			wantErr: []string{"status"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFeedback(tc.typ)
			if tc.setup != nil {
				tc.setup(f)
			}
			before := *f
			err := f.ChangeStatus(tc.to, tc.reason, "u-actor", at)
			if tc.wantErr != nil {
				got := violations(err)
				for _, field := range tc.wantErr {
					if got[field] == "" {
						t.Fatalf("error %v has no violation for %s", err, field)
					}
				}
				if f.Status != before.Status {
					t.Fatalf("status changed to %s despite the error", f.Status)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if f.Status != tc.to {
				t.Fatalf("status %s, want %s", f.Status, tc.to)
			}
			if tc.check != nil {
				tc.check(t, f)
			}
		})
	}
}

func TestSLA(t *testing.T) {
	t.Parallel()
	at := func(d time.Duration) *time.Time { x := t0.Add(d); return &x }
	tests := []struct {
		name        string
		typ         feedback.Type
		sla         time.Duration
		responded   *time.Time
		now         time.Duration
		want        feedback.SLAState
		wantOverdue bool
	}{
		{"complaint within the deadline", feedback.TypeComplaint, sla, nil, 23*time.Hour + 59*time.Minute, feedback.SLAOnTrack, false},
		{"complaint exactly at the deadline", feedback.TypeComplaint, sla, nil, sla, feedback.SLAOnTrack, false},
		{"complaint pending past the deadline", feedback.TypeComplaint, sla, nil, sla + time.Second, feedback.SLAOverdue, true},
		{"complaint answered in time", feedback.TypeComplaint, sla, at(2 * time.Hour), 72 * time.Hour, feedback.SLAMet, false},
		{"complaint answered at the deadline", feedback.TypeComplaint, sla, at(sla), 72 * time.Hour, feedback.SLAMet, false},
		{"complaint answered late", feedback.TypeComplaint, sla, at(25 * time.Hour), 72 * time.Hour, feedback.SLABreached, true},
		{"configured 4h SLA", feedback.TypeComplaint, 4 * time.Hour, nil, 5 * time.Hour, feedback.SLAOverdue, true},
		{"suggestions have no deadline", feedback.TypeSuggestion, sla, nil, 100 * time.Hour, feedback.SLANone, false},
		{"inquiries have no deadline", feedback.TypeInquiry, sla, nil, 100 * time.Hour, feedback.SLANone, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := feedback.New("CUST-20261123-0001", tc.typ, "内容", feedback.ChannelEmail, t0, tc.sla)
			if tc.typ == feedback.TypeComplaint {
				if f.ResponseDeadline == nil || !f.ResponseDeadline.Equal(t0.Add(tc.sla)) {
					t.Fatalf("deadline %v, want %v", f.ResponseDeadline, t0.Add(tc.sla))
				}
			} else if f.ResponseDeadline != nil {
				t.Fatalf("%s has a deadline", tc.typ)
			}
			f.FirstResponseAt = tc.responded
			if got := f.SLA(t0.Add(tc.now)); got != tc.want {
				t.Fatalf("SLA = %v, want %v", got, tc.want)
			}
			if got := f.Overdue(t0.Add(tc.now)); got != tc.wantOverdue {
				t.Fatalf("Overdue = %v, want %v", got, tc.wantOverdue)
			}
		})
	}

	// Starting late is what turns an overdue complaint into a breached one.
	f := newFeedback(feedback.TypeComplaint)
	if err := f.ChangeStatus(feedback.StatusInProgress, "", "u-agent", t0.Add(30*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if f.SLA(t0.Add(31*time.Hour)) != feedback.SLABreached {
		t.Fatalf("late start: %v", f.SLA(t0.Add(31*time.Hour)))
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		change func(f *feedback.Feedback)
		want   map[string]string
	}{
		{"valid", func(*feedback.Feedback) {}, nil},
		{"5000 characters of content", func(f *feedback.Feedback) { f.Content = strings.Repeat("投", 5000) }, nil},
		{"5001 characters of content", func(f *feedback.Feedback) { f.Content = strings.Repeat("投", 5001) }, map[string]string{"content": validate.ReasonTooLong}},
		{"missing everything", func(f *feedback.Feedback) { f.CustomerID, f.Type, f.Content, f.Channel = "", "", "", "" },
			map[string]string{"customer_id": validate.ReasonRequired, "type": validate.ReasonRequired, "content": validate.ReasonRequired, "channel": validate.ReasonRequired}},
		{"unknown enums", func(f *feedback.Feedback) { f.Type, f.Channel = "rant", "fax" },
			map[string]string{"type": validate.ReasonUnknownCode, "channel": validate.ReasonUnknownCode}},
		{"long plan and result", func(f *feedback.Feedback) {
			f.Plan, f.Result = strings.Repeat("方", 2001), strings.Repeat("果", 2001)
		},
			map[string]string{"plan": validate.ReasonTooLong, "result": validate.ReasonTooLong}},
		{"satisfaction while pending", func(f *feedback.Feedback) { f.Satisfaction = 5 }, map[string]string{"satisfaction": validate.ReasonNotAllowed}},
		{"satisfaction out of range", func(f *feedback.Feedback) {
			f.Status, f.Plan, f.Result, f.Satisfaction = feedback.StatusResolved, "方", "果", 6
		}, map[string]string{"satisfaction": validate.ReasonOutOfRange}},
		{"satisfaction when closed", func(f *feedback.Feedback) { f.Status, f.Satisfaction = feedback.StatusClosed, 4 }, nil},
		{"resolved without result", func(f *feedback.Feedback) { f.Status, f.Plan = feedback.StatusResolved, "方" },
			map[string]string{"result": validate.ReasonRequired}},
		{"long handler", func(f *feedback.Feedback) { f.HandlerID = strings.Repeat("u", 65) }, map[string]string{"handler_id": validate.ReasonTooLong}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFeedback(feedback.TypeComplaint)
			tc.change(f)
			err := f.Validate()
			got := violations(err)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Validate = %v", err)
				}
				return
			}
			if len(got) != len(tc.want) {
				t.Fatalf("violations %v, want %v", got, tc.want)
			}
			for field, reason := range tc.want {
				if got[field] != reason {
					t.Fatalf("violations %v, want %v", got, tc.want)
				}
			}
		})
	}

	// Messages come in both languages.
	f := newFeedback(feedback.TypeComplaint)
	f.Content = ""
	var ve *validate.Error
	if !errors.As(f.Validate(), &ve) || ve.Violations[0].Message.Text("zh-CN") != "反馈内容不能为空" ||
		ve.Violations[0].Message.Text("en") != "Content is required" {
		t.Fatalf("messages: %+v", ve)
	}
}

func TestApplyMask(t *testing.T) {
	t.Parallel()
	patch := &feedback.Feedback{Type: feedback.TypeComplaint, Content: "新内容", Channel: feedback.ChannelEmail,
		Plan: "方案", Result: "结果", Satisfaction: 4}
	tests := []struct {
		name    string
		status  feedback.Status
		typ     feedback.Type
		paths   []string
		wantErr error
		// wantFields lists the fields of the expected validation error.
		wantFields []string
		check      func(t *testing.T, f *feedback.Feedback)
	}{
		{name: "content and channel", status: feedback.StatusInProgress, typ: feedback.TypeComplaint, paths: []string{"content", "channel"},
			check: func(t *testing.T, f *feedback.Feedback) {
				if f.Content != "新内容" || f.Channel != feedback.ChannelEmail || f.Plan != "" {
					t.Fatalf("%+v", f)
				}
			}},
		{name: "empty mask", status: feedback.StatusPending, typ: feedback.TypeComplaint, wantFields: []string{"update_mask"}},
		{name: "status through the mask", status: feedback.StatusPending, typ: feedback.TypeComplaint, paths: []string{"status"}, wantFields: []string{"update_mask"}},
		{name: "handler through the mask", status: feedback.StatusPending, typ: feedback.TypeComplaint, paths: []string{"handler_id"}, wantFields: []string{"update_mask"}},
		{name: "output-only field", status: feedback.StatusPending, typ: feedback.TypeComplaint, paths: []string{"response_deadline"}, wantFields: []string{"update_mask"}},
		{name: "closed takes satisfaction", status: feedback.StatusClosed, typ: feedback.TypeComplaint, paths: []string{"satisfaction"},
			check: func(t *testing.T, f *feedback.Feedback) {
				if f.Satisfaction != 4 {
					t.Fatalf("satisfaction %d", f.Satisfaction)
				}
			}},
		{name: "closed refuses content", status: feedback.StatusClosed, typ: feedback.TypeComplaint, paths: []string{"satisfaction", "content"}, wantErr: feedback.ErrClosed},
		{name: "type changes while pending and gains a deadline", status: feedback.StatusPending, typ: feedback.TypeInquiry, paths: []string{"type"},
			check: func(t *testing.T, f *feedback.Feedback) {
				if f.Type != feedback.TypeComplaint || f.ResponseDeadline == nil || !f.ResponseDeadline.Equal(t0.Add(4*time.Hour)) {
					t.Fatalf("type %s deadline %v", f.Type, f.ResponseDeadline)
				}
			}},
		{name: "type does not change once handled", status: feedback.StatusInProgress, typ: feedback.TypeInquiry, paths: []string{"type"}, wantFields: []string{"type"}},
		{name: "the same type is no change", status: feedback.StatusInProgress, typ: feedback.TypeComplaint, paths: []string{"type"},
			check: func(t *testing.T, f *feedback.Feedback) {
				// The deadline stays as created, even though the SLA setting is now 4h.
				if !f.ResponseDeadline.Equal(t0.Add(sla)) {
					t.Fatalf("deadline moved to %v", f.ResponseDeadline)
				}
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFeedback(tc.typ)
			f.Status = tc.status
			err := f.ApplyMask(patch, tc.paths, 4*time.Hour)
			switch {
			case tc.wantErr != nil:
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
			case tc.wantFields != nil:
				got := violations(err)
				for _, field := range tc.wantFields {
					if got[field] == "" {
						t.Fatalf("err = %v, want a violation for %s", err, field)
					}
				}
			default:
				if err != nil {
					t.Fatal(err)
				}
				tc.check(t, f)
			}
		})
	}
	// A complaint turned into a suggestion loses its deadline.
	f := newFeedback(feedback.TypeComplaint)
	if err := f.ApplyMask(&feedback.Feedback{Type: feedback.TypeSuggestion}, []string{"type"}, sla); err != nil || f.ResponseDeadline != nil {
		t.Fatalf("complaint → suggestion: %v, deadline %v", err, f.ResponseDeadline)
	}
}

func TestAssign(t *testing.T) {
	t.Parallel()
	f := newFeedback(feedback.TypeComplaint)
	if err := f.Assign("  u-agent "); err != nil || f.HandlerID != "u-agent" || f.Status != feedback.StatusPending {
		t.Fatalf("assign: %v %q %s", err, f.HandlerID, f.Status)
	}
	if got := violations(f.Assign(" ")); got["handler_id"] != validate.ReasonRequired {
		t.Fatalf("blank handler: %v", got)
	}
	f.Status = feedback.StatusClosed
	if err := f.Assign("u-other"); !errors.Is(err, feedback.ErrClosed) {
		t.Fatalf("assign closed: %v", err)
	}
}

func TestDiff(t *testing.T) {
	t.Parallel()
	f := newFeedback(feedback.TypeComplaint)
	created := feedback.Diff(nil, f)
	var names []string
	for _, c := range created {
		names = append(names, c.Field)
	}
	if strings.Join(names, ",") != "customer_id,type,content,channel,status,response_deadline" {
		t.Fatalf("created diff: %v", names)
	}
	after := *f
	if err := after.ChangeStatus(feedback.StatusInProgress, "", "u-agent", t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	d := feedback.Diff(f, &after)
	if len(d) != 3 || d[0].Field != "status" || d[0].Before != "pending" || d[0].After != "in_progress" ||
		d[1].Field != "handler_id" || d[2].Field != "first_response_time" {
		t.Fatalf("status diff: %+v", d)
	}
	if len(feedback.Diff(f, f)) != 0 {
		t.Fatal("no change has a diff")
	}
}

func TestParseFilter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want []feedback.Condition
		bad  bool
	}{
		{in: ""},
		{in: `type = COMPLAINT AND status = FEEDBACK_STATUS_PENDING`, want: []feedback.Condition{
			{Field: "type", Op: "=", Value: "complaint"}, {Field: "status", Op: "=", Value: "pending"}}},
		{in: `channel != online_service and handler_id = "u-agent"`, want: []feedback.Condition{
			{Field: "channel", Op: "!=", Value: "online_service"}, {Field: "handler_id", Op: "=", Value: "u-agent"}}},
		{in: `customer_id = cust-20261123-0001 AND overdue = TRUE`, want: []feedback.Condition{
			{Field: "customer_id", Op: "=", Value: "CUST-20261123-0001"}, {Field: "overdue", Op: "=", Value: "true"}}},
		{in: `create_time >= "2026-11-01"`, want: []feedback.Condition{
			{Field: "create_time", Op: ">=", Value: "2026-11-01", Time: time.Date(2026, 10, 31, 16, 0, 0, 0, time.UTC)}}},
		{in: `overdue = maybe`, bad: true},
		{in: `overdue > true`, bad: true},
		{in: `type = rant`, bad: true},
		{in: `content = "x"`, bad: true},
		{in: `create_time >= yesterday`, bad: true},
		{in: `type = COMPLAINT OR type = PRAISE`, bad: true},
		{in: `type =`, bad: true},
		{in: `handler_id = "open`, bad: true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			got, err := feedback.ParseFilter(tc.in)
			if tc.bad {
				if violations(err)["filter"] == "" {
					t.Fatalf("ParseFilter(%q) = %v, %v; want a filter violation", tc.in, got, err)
				}
				return
			}
			if err != nil || len(got) != len(tc.want) {
				t.Fatalf("ParseFilter(%q) = %v, %v", tc.in, got, err)
			}
			for i := range got {
				if got[i].Field != tc.want[i].Field || got[i].Op != tc.want[i].Op || got[i].Value != tc.want[i].Value || !got[i].Time.Equal(tc.want[i].Time) {
					t.Fatalf("term %d = %+v, want %+v", i, got[i], tc.want[i])
				}
			}
		})
	}
}

func TestParseOrder(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]feedback.Order{
		"": {Field: "create_time", Desc: true}, "update_time": {Field: "update_time"}, "create_time asc": {Field: "create_time"},
		"update_time DESC": {Field: "update_time", Desc: true},
	} {
		if got, err := feedback.ParseOrder(in); err != nil || got != want {
			t.Errorf("ParseOrder(%q) = %+v, %v", in, got, err)
		}
	}
	for _, in := range []string{"name", "create_time sideways", "a b c"} {
		if _, err := feedback.ParseOrder(in); violations(err)["order_by"] == "" {
			t.Errorf("ParseOrder(%q) = %v", in, err)
		}
	}
}
