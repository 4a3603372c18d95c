package server_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/crmsuite/crm/pkg/testkit"
	customerv1 "github.com/crmsuite/crm/proto/gen/go/crm/customer/v1"
	feedbackv1 "github.com/crmsuite/crm/proto/gen/go/crm/feedback/v1"
)

func TestExportFeedback(t *testing.T) {
	t.Parallel()
	e := start(t, 24*time.Hour)
	admin := as(t, "admin")
	first := recorded(t, e)
	e.clock.set(time.Minute)
	second := recorded(t, e)
	if _, err := e.client.CreateFeedback(admin, &feedbackv1.CreateFeedbackRequest{CustomerId: custWest, Feedback: complaint()}); err != nil {
		t.Fatal(err)
	}
	e.clock.set(26 * time.Hour) // every complaint is now past its 24-hour deadline

	name, _, data, err := testkit.Download(e.client.ExportFeedback(as(t, "sales1"), &feedbackv1.ExportFeedbackRequest{}))
	if err != nil || !strings.HasPrefix(name, "客户反馈导出-") || !strings.HasSuffix(name, ".csv") {
		t.Fatalf("%q %v", name, err)
	}
	rows := testkit.CSVRows(t, data)
	var ids []string
	for _, r := range rows {
		ids = append(ids, r["反馈编号"])
	}
	if want := []string{second.GetFeedbackId(), first.GetFeedbackId()}; !slices.Equal(ids, want) {
		t.Fatalf("sales1 exports %v, want %v", ids, want)
	}
	if r := rows[0]; r["客户名称"] != "杭州甲科技有限公司" || r["反馈类型"] != "投诉" || r["反馈渠道"] != "电话" ||
		r["处理状态"] != "待处理" || r["时限状态"] != "已超时" || r["响应时限"] == "" || r["客户负责人"] != "u-sales1" {
		t.Fatalf("row %v", r)
	}

	en := metadata.AppendToOutgoingContext(admin, "accept-language", "en")
	name, _, data, err = testkit.Download(e.client.ExportFeedback(en, &feedbackv1.ExportFeedbackRequest{Format: customerv1.FileFormat_FILE_FORMAT_CSV}))
	if err != nil || !strings.HasPrefix(name, "feedback-") {
		t.Fatalf("%q %v", name, err)
	}
	if rows := testkit.CSVRows(t, data); len(rows) != 3 || rows[2]["Customer ID"] != custWest || rows[2]["Type"] != "Complaint" {
		t.Fatalf("admin export %v", rows)
	}

	for user, want := range map[string]codes.Code{"service": codes.PermissionDenied, "executive": codes.PermissionDenied, "": codes.Unauthenticated} {
		if _, _, _, err := testkit.Download(e.client.ExportFeedback(as(t, user), &feedbackv1.ExportFeedbackRequest{})); status.Code(err) != want {
			t.Errorf("%q: %v, want %v", user, err, want)
		}
	}
	if _, _, _, err := testkit.Download(e.client.ExportFeedback(as(t, "manager"), &feedbackv1.ExportFeedbackRequest{RevealPii: true})); status.Code(err) != codes.InvalidArgument {
		t.Errorf("manager unmasked: %v", err)
	}
}
