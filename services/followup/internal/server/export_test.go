package server_test

import (
	"archive/zip"
	"bytes"
	"context"
	"io"
	"slices"
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/crmsuite/crm/pkg/events"
	"github.com/crmsuite/crm/pkg/testkit"
	customerv1 "github.com/crmsuite/crm/proto/gen/go/crm/customer/v1"
	followupv1 "github.com/crmsuite/crm/proto/gen/go/crm/followup/v1"
)

func TestExportFollowUps(t *testing.T) {
	e := start(t)
	ctx := as(t, "admin")
	in := e.input(3)
	in.Content = "=HYPERLINK(\"http://x\")"
	in.OwnerId = "u-sales1"
	first, err := e.client.CreateFollowUp(ctx, &followupv1.CreateFollowUpRequest{CustomerId: custA, Followup: in})
	if err != nil {
		t.Fatal(err)
	}
	second := e.create(t, "u-sales1", -1)
	w := e.input(-1)
	w.OwnerId = "u-sales9"
	if _, err := e.client.CreateFollowUp(ctx, &followupv1.CreateFollowUpRequest{CustomerId: custW, Followup: w}); err != nil {
		t.Fatal(err)
	}
	deleted := e.create(t, "u-sales1", -1)
	if _, err := e.client.DeleteFollowUp(ctx, &followupv1.DeleteFollowUpRequest{FollowupId: deleted.GetFollowupId()}); err != nil {
		t.Fatal(err)
	}

	// A sales rep: the records of its own customers, contact names masked, formulas neutralised.
	name, ctype, data, err := testkit.Download(e.client.ExportFollowUps(as(t, "sales1"), &followupv1.ExportFollowUpsRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(name, "跟进记录导出-") || !strings.HasSuffix(name, ".csv") || !strings.HasPrefix(ctype, "text/csv") {
		t.Fatalf("file %q %q", name, ctype)
	}
	rows := testkit.CSVRows(t, data)
	var ids []string
	for _, r := range rows {
		ids = append(ids, r["跟进编号"])
	}
	// Newest contact first within a customer; both were contacted at the same time, so by id.
	if want := []string{first.GetFollowupId(), second.GetFollowupId()}; !slices.Equal(ids, want) {
		t.Fatalf("sales1 exports %v, want %v", ids, want)
	}
	r := rows[0]
	if r["客户名称"] != "杭州甲科技有限公司" || r["联系人"] != "陈*" || r["跟进内容"] != "'=HYPERLINK(\"http://x\")" ||
		r["联系方式"] != "电话" || r["跟进类型"] != "需求跟进" || r["已完成"] != "否" || r["行动截止日期"] == "" {
		t.Fatalf("row %v", r)
	}

	// An admin, unmasked, with a customer filter; then everything.
	_, _, data, err = testkit.Download(e.client.ExportFollowUps(ctx, &followupv1.ExportFollowUpsRequest{RevealPii: true, CustomerFilter: `owner_id = "u-sales9"`}))
	if err != nil {
		t.Fatal(err)
	}
	if rows := testkit.CSVRows(t, data); len(rows) != 1 || rows[0]["客户编号"] != custW || rows[0]["联系人"] != "陈静" {
		t.Fatalf("admin filtered export %v", rows)
	}
	if _, _, data, err = testkit.Download(e.client.ExportFollowUps(ctx, &followupv1.ExportFollowUpsRequest{})); err != nil || len(testkit.CSVRows(t, data)) != 3 {
		t.Fatalf("admin export: %d rows, %v", len(testkit.CSVRows(t, data)), err)
	}

	// XLSX in English for the manager of team east.
	en := metadata.AppendToOutgoingContext(as(t, "manager"), "accept-language", "en")
	name, ctype, data, err = testkit.Download(e.client.ExportFollowUps(en, &followupv1.ExportFollowUpsRequest{Format: customerv1.FileFormat_FILE_FORMAT_XLSX}))
	if err != nil || !strings.HasPrefix(name, "followups-") || !strings.HasSuffix(name, ".xlsx") || !strings.Contains(ctype, "spreadsheetml") {
		t.Fatalf("xlsx %q %q %v", name, ctype, err)
	}
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	f, err := zr.Open("xl/worksheets/sheet1.xml")
	if err != nil {
		t.Fatal(err)
	}
	xml, _ := io.ReadAll(f)
	if !bytes.Contains(xml, []byte("Follow-up ID")) || !bytes.Contains(xml, []byte(first.GetFollowupId())) || bytes.Contains(xml, []byte("成都乙")) {
		t.Fatalf("sheet %s", xml)
	}

	// Refusals change nothing and name the field.
	for _, tc := range []struct {
		user  string
		req   *followupv1.ExportFollowUpsRequest
		code  codes.Code
		field string
	}{
		{"sales1", &followupv1.ExportFollowUpsRequest{RevealPii: true}, codes.InvalidArgument, "reveal_pii"},
		{"sales1", &followupv1.ExportFollowUpsRequest{CustomerFilter: "colour = red"}, codes.InvalidArgument, "customer_filter"},
		{"sales1", &followupv1.ExportFollowUpsRequest{Format: 7}, codes.InvalidArgument, "format"},
		{"service", &followupv1.ExportFollowUpsRequest{}, codes.PermissionDenied, ""},
		{"executive", &followupv1.ExportFollowUpsRequest{}, codes.PermissionDenied, ""},
		{"", &followupv1.ExportFollowUpsRequest{}, codes.Unauthenticated, ""},
	} {
		_, _, _, err := testkit.Download(e.client.ExportFollowUps(as(t, tc.user), tc.req))
		st := status.Convert(err)
		if st.Code() != tc.code {
			t.Fatalf("%s %v: %v, want %v", tc.user, tc.req, err, tc.code)
		}
		if tc.field != "" && !violates(st, tc.field) {
			t.Fatalf("%s %v: %v does not name %s", tc.user, tc.req, st.Details(), tc.field)
		}
	}

	// Each export that ran is audited with who, which filter, masked or not, and how many rows;
	// refused ones are not.
	type audit struct {
		actor, filter string
		masked        bool
		rows          float64
		done          bool
		format        string
	}
	var got []audit
	q, err := e.pool.Query(context.Background(), `SELECT payload FROM outbox WHERE subject = 'crm.followup.followup_export.exported' ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	for q.Next() {
		var b []byte
		if err := q.Scan(&b); err != nil {
			t.Fatal(err)
		}
		ev, err := events.Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		f := map[string]*structpb.Value{}
		for _, ch := range ev.GetChanges() {
			f[ch.GetField()] = ch.GetAfter()
		}
		got = append(got, audit{ev.GetActor().GetUserId(), f["customer_filter"].GetStringValue(), f["masked"].GetBoolValue(),
			f["row_count"].GetNumberValue(), f["completed"].GetBoolValue(), f["format"].GetStringValue()})
	}
	want := []audit{
		{"u-sales1", "", true, 2, true, "csv"},
		{"u-admin", `owner_id = "u-sales9"`, false, 1, true, "csv"},
		{"u-admin", "", true, 3, true, "csv"},
		{"u-manager", "", true, 2, true, "xlsx"},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("audit records\n%+v\nwant\n%+v", got, want)
	}
}

// violates reports whether a status carries a field violation of field.
func violates(st *status.Status, field string) bool {
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				if v.GetField() == field {
					return true
				}
			}
		}
	}
	return false
}
