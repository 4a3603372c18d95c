package server_test

import (
	"archive/zip"
	"bytes"
	"io"
	"slices"
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/crmsuite/crm/pkg/testkit"
	customerv1 "github.com/crmsuite/crm/proto/gen/go/crm/customer/v1"
	needsv1 "github.com/crmsuite/crm/proto/gen/go/crm/needs/v1"
)

func TestExportNeeds(t *testing.T) {
	t.Parallel()
	c, _ := start(t)
	admin := as(t, "admin")
	first := create(t, c)
	second := create(t, c)
	if _, err := c.CreateNeed(admin, &needsv1.CreateNeedRequest{CustomerId: custWest, Need: input()}); err != nil {
		t.Fatal(err)
	}
	gone := create(t, c)
	if _, err := c.DeleteNeed(admin, &needsv1.DeleteNeedRequest{NeedId: gone.GetNeedId()}); err != nil {
		t.Fatal(err)
	}

	// A sales rep: the needs of its own customer, newest first, the deleted one left out.
	name, _, data, err := testkit.Download(c.ExportNeeds(as(t, "sales1"), &needsv1.ExportNeedsRequest{}))
	if err != nil || !strings.HasPrefix(name, "需求商机导出-") || !strings.HasSuffix(name, ".csv") {
		t.Fatalf("%q %v", name, err)
	}
	rows := testkit.CSVRows(t, data)
	var ids []string
	for _, r := range rows {
		ids = append(ids, r["需求编号"])
	}
	if want := []string{second.GetNeedId(), first.GetNeedId()}; !slices.Equal(ids, want) {
		t.Fatalf("sales1 exports %v, want %v", ids, want)
	}
	r := rows[0]
	if r["客户名称"] != "杭州甲科技有限公司" || r["需求类型"] != "采购" || r["阶段"] != "初步接洽" || r["成交概率(%)"] != "10" ||
		r["预计成交金额(元)"] != "650000.50" || r["预算下限(元)"] != "500000.00" || r["竞争对手"] != "海康机器人、极智嘉" ||
		r["预计成交日期"] != "2026-12-31" {
		t.Fatalf("row %v", r)
	}

	// The admin exports both customers' needs; a filter narrows them.
	if _, _, data, err = testkit.Download(c.ExportNeeds(admin, &needsv1.ExportNeedsRequest{})); err != nil || len(testkit.CSVRows(t, data)) != 3 {
		t.Fatalf("admin: %v", err)
	}
	if _, _, data, err = testkit.Download(c.ExportNeeds(admin, &needsv1.ExportNeedsRequest{CustomerFilter: `owner_id = "u-sales9"`})); err != nil {
		t.Fatal(err)
	}
	if rows := testkit.CSVRows(t, data); len(rows) != 1 || rows[0]["客户编号"] != custWest {
		t.Fatalf("filtered %v", rows)
	}

	// XLSX in English for the west manager: amounts are numbers a spreadsheet can sum.
	en := metadata.AppendToOutgoingContext(as(t, "managerW"), "accept-language", "en")
	name, _, data, err = testkit.Download(c.ExportNeeds(en, &needsv1.ExportNeedsRequest{Format: customerv1.FileFormat_FILE_FORMAT_XLSX}))
	if err != nil || !strings.HasPrefix(name, "needs-") || !strings.HasSuffix(name, ".xlsx") {
		t.Fatalf("%q %v", name, err)
	}
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	f, err := zr.Open("xl/worksheets/sheet1.xml")
	if err != nil {
		t.Fatal(err)
	}
	sheet, _ := io.ReadAll(f)
	if !bytes.Contains(sheet, []byte("Expected amount (CNY)")) || !bytes.Contains(sheet, []byte("<v>650000.50</v>")) ||
		!bytes.Contains(sheet, []byte("Procurement")) || bytes.Contains(sheet, []byte(first.GetNeedId())) {
		t.Fatalf("sheet %s", sheet)
	}

	for _, tc := range []struct {
		user  string
		req   *needsv1.ExportNeedsRequest
		code  codes.Code
		field string
	}{
		{"sales1", &needsv1.ExportNeedsRequest{RevealPii: true}, codes.InvalidArgument, "reveal_pii"},
		{"sales1", &needsv1.ExportNeedsRequest{CustomerFilter: "stage = won"}, codes.InvalidArgument, "customer_filter"},
		{"service", &needsv1.ExportNeedsRequest{}, codes.PermissionDenied, ""},
		{"executive", &needsv1.ExportNeedsRequest{}, codes.PermissionDenied, ""},
	} {
		_, _, _, err := testkit.Download(c.ExportNeeds(as(t, tc.user), tc.req))
		st := status.Convert(err)
		if st.Code() != tc.code {
			t.Fatalf("%s %v: %v, want %v", tc.user, tc.req, err, tc.code)
		}
		if tc.field != "" && !slices.ContainsFunc(st.Details(), func(d any) bool {
			br, ok := d.(*errdetails.BadRequest)
			return ok && slices.ContainsFunc(br.GetFieldViolations(), func(v *errdetails.BadRequest_FieldViolation) bool { return v.GetField() == tc.field })
		}) {
			t.Fatalf("%s %v: %v does not name %s", tc.user, tc.req, st.Details(), tc.field)
		}
	}
}
