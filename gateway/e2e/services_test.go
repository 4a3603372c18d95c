package e2e

import (
	"archive/zip"
	"bytes"
	"context"
	"io"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/crmsuite/crm/pkg/events"
	"github.com/crmsuite/crm/pkg/testkit"
	customerv1 "github.com/crmsuite/crm/proto/gen/go/crm/customer/v1"
)

// TestServicesAcrossCustomers drives follow-ups, needs, tags and feedback through REST and checks
// what crosses services: access follows the customer's owner, deletes and owner changes reach the
// other services, the customer's last follow-up time and level follow their events, and every
// change lands in the audit log.
func TestServicesAcrossCustomers(t *testing.T) {
	natsURL := testkit.StartNATS(t)
	s := startSuite(t, natsURL)
	admin := s.token(t, "u-admin", "hq", "admin")
	sales1 := s.token(t, "u-sales1", "east", "sales")
	sales2 := s.token(t, "u-sales2", "east", "sales")
	service := s.token(t, "u-service", "support", "service")

	var c customerResp
	s.do(t, sales1, http.MethodPost, "/v1/customers", customerJSON(500), http.StatusOK, &c)
	base := "/v1/customers/" + c.CustomerID

	// Follow-ups: the owner may log one; another rep may not even see the customer.
	contact := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	followup := map[string]any{"contactName": "刘洋", "method": "CONTACT_METHOD_PHONE", "contactTime": contact,
		"kind": "FOLLOW_UP_KIND_INITIAL", "content": "初次电话沟通，客户关注数据安全方案"}
	s.do(t, sales2, http.MethodPost, base+"/followups", followup, http.StatusNotFound, nil)
	var f struct {
		FollowupID string `json:"followupId"`
	}
	s.do(t, sales1, http.MethodPost, base+"/followups", followup, http.StatusOK, &f)
	if f.FollowupID == "" {
		t.Fatal("no follow-up id")
	}
	// Service agents log follow-ups for any customer.
	s.do(t, service, http.MethodPost, base+"/followups", followup, http.StatusOK, nil)

	// The customer's 最近跟进时间 follows its follow-up records: forward with a later one, and back
	// when that one is deleted.
	lastFollowup := func(want string) {
		t.Helper()
		waitFor(t, 10*time.Second, "last follow-up time "+want+" on the customer", func() bool {
			var got struct {
				LastFollowupTime string `json:"lastFollowupTime"`
			}
			s.do(t, sales1, http.MethodGet, base, nil, http.StatusOK, &got)
			return got.LastFollowupTime == want
		})
	}
	lastFollowup(contact)
	later := time.Now().Add(-10 * time.Minute).UTC().Format(time.RFC3339)
	var f2 struct {
		FollowupID string `json:"followupId"`
	}
	s.do(t, sales1, http.MethodPost, base+"/followups", map[string]any{"contactName": "刘洋", "method": "CONTACT_METHOD_VISIT",
		"contactTime": later, "kind": "FOLLOW_UP_KIND_NEED_FOLLOWUP", "content": "上门拜访，记录有误，稍后删除"}, http.StatusOK, &f2)
	lastFollowup(later)
	s.do(t, sales1, http.MethodDelete, "/v1/followups/"+f2.FollowupID, nil, http.StatusOK, nil)
	lastFollowup(contact)

	// Needs: create and move along the pipeline.
	var n struct {
		NeedID string `json:"needId"`
		Etag   string `json:"etag"`
	}
	s.do(t, sales1, http.MethodPost, base+"/needs", map[string]any{"title": "数据中心扩容采购", "type": "NEED_TYPE_PROCUREMENT",
		"expectedAmount": map[string]any{"currencyCode": "CNY", "units": "500000"}}, http.StatusOK, &n)
	s.do(t, sales1, http.MethodPost, "/v1/needs/"+n.NeedID+":changeStage", map[string]any{"stage": "NEED_STAGE_CONFIRMED"}, http.StatusOK, nil)
	s.do(t, sales2, http.MethodGet, "/v1/needs/"+n.NeedID, nil, http.StatusNotFound, nil)

	// Feedback: a complaint, handled by customer service.
	var fb struct {
		FeedbackID string `json:"feedbackId"`
	}
	s.do(t, service, http.MethodPost, base+"/feedback", map[string]any{"type": "FEEDBACK_TYPE_COMPLAINT",
		"channel": "FEEDBACK_CHANNEL_PHONE", "content": "发票开具延迟两周"}, http.StatusOK, &fb)

	// Tags: the level tag sets the customer's 客户等级.
	var tags struct {
		Tags []struct {
			TagID      string `json:"tagId"`
			LevelValue string `json:"levelValue"`
		} `json:"tags"`
	}
	s.do(t, sales1, http.MethodGet, "/v1/tags?category=TAG_CATEGORY_LEVEL", nil, http.StatusOK, &tags)
	high := ""
	for _, tg := range tags.Tags {
		if tg.LevelValue == "high" {
			high = tg.TagID
		}
	}
	if high == "" {
		t.Fatalf("no high level tag in %+v", tags)
	}
	s.do(t, sales2, http.MethodPost, base+"/tags", map[string]any{"tagId": high}, http.StatusNotFound, nil)
	s.do(t, sales1, http.MethodPost, base+"/tags", map[string]any{"tagId": high}, http.StatusOK, nil)
	waitFor(t, 10*time.Second, "the level on the customer", func() bool {
		var got struct {
			Level string `json:"level"`
		}
		s.do(t, sales1, http.MethodGet, base, nil, http.StatusOK, &got)
		return got.Level == "high"
	})

	// Export: the customers with their follow-ups, needs and feedback in one ZIP, each part
	// scoped, masked and audited by its own service; another rep gets the same files, empty.
	code, h, body := s.send(t, sales1, http.MethodGet, "/v1/customers:export?include=followups,needs,feedback", "", nil)
	if code != http.StatusOK || h.Get("Content-Type") != "application/zip" || !strings.Contains(h.Get("Content-Disposition"), ".zip") {
		t.Fatalf("bundle: %d %v %s", code, h, body)
	}
	files := unzip(t, body)
	counts := map[string]int{}
	for name, data := range files {
		rows := testkit.CSVRows(t, data)
		counts[strings.SplitN(name, "-", 2)[0]] = len(rows)
		if strings.HasPrefix(name, "跟进记录导出-") && (rows[0]["客户编号"] != c.CustomerID || rows[0]["联系人"] != "刘*") {
			t.Fatalf("follow-up row %v", rows[0])
		}
	}
	if want := map[string]int{"客户导出": 1, "跟进记录导出": 2, "需求商机导出": 1, "客户反馈导出": 1}; !maps.Equal(counts, want) {
		t.Fatalf("bundle rows %v, want %v", counts, want)
	}
	code, h, body = s.send(t, sales2, http.MethodGet, "/v1/followups:export?format=xlsx", "", nil)
	if code != http.StatusOK || !strings.Contains(h.Get("Content-Type"), "spreadsheetml") || bytes.Contains(body, []byte(f.FollowupID)) {
		t.Fatalf("sales2 follow-up export: %d %v", code, h)
	}
	var refused errorBody
	s.do(t, service, http.MethodGet, "/v1/needs:export", nil, http.StatusForbidden, nil)
	s.do(t, sales1, http.MethodGet, "/v1/feedback:export?customerFilter="+url.QueryEscape("colour = red"), nil, http.StatusBadRequest, &refused)
	if _, ok := refused.violations()["customer_filter"]; !ok {
		t.Fatalf("bad customer filter: %+v", refused)
	}
	s.do(t, sales1, http.MethodGet, "/v1/customers:export?include=orders", nil, http.StatusBadRequest, nil)

	// An owner change reaches the other services: sales2 now sees the records, sales1 no longer.
	var cur customerResp
	s.do(t, admin, http.MethodGet, base, nil, http.StatusOK, &cur)
	s.do(t, admin, http.MethodPatch, base+"?updateMask=ownerId", map[string]any{"ownerId": "u-sales2", "etag": cur.Etag}, http.StatusOK, nil)
	waitFor(t, 10*time.Second, "the owner change in the follow-up service", func() bool {
		return s.status(t, sales2, "/v1/followups/"+f.FollowupID) == http.StatusOK &&
			s.status(t, sales1, "/v1/followups/"+f.FollowupID) == http.StatusNotFound
	})
	waitFor(t, 10*time.Second, "the owner change in the needs and feedback services", func() bool {
		return s.status(t, sales2, "/v1/needs/"+n.NeedID) == http.StatusOK &&
			s.status(t, sales2, "/v1/feedback/"+fb.FeedbackID) == http.StatusOK
	})

	// A deleted customer takes no new records.
	s.do(t, admin, http.MethodDelete, base+"?reason="+url.QueryEscape("客户注销"), nil, http.StatusOK, nil)
	waitFor(t, 10*time.Second, "the delete in the follow-up service", func() bool {
		return s.post(t, admin, base+"/followups", followup) != http.StatusOK
	})

	// Every service's changes are in the audit log.
	waitFor(t, 10*time.Second, "every service in the audit log", func() bool {
		for _, typ := range []string{"customer.created", "followup.created", "followup.deleted", "customer_last_followup.changed",
			"need.created", "need.stage_changed", "feedback.created", "customer_tag.assigned", "customer_level.changed", "customer.deleted",
			"customer_export.exported", "followup_export.exported", "need_export.exported", "feedback_export.exported"} {
			var resp struct {
				AuditEvents []auditEvent `json:"auditEvents"`
			}
			s.do(t, admin, http.MethodGet, "/v1/auditEvents?eventType="+typ, nil, http.StatusOK, &resp)
			if len(resp.AuditEvents) == 0 {
				return false
			}
		}
		return true
	})

	// Analytics subscribers read the same events, with personal information masked.
	nc, err := nats.Connect(natsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	mobile := customerJSON(500)["mobile"].(string)
	waitFor(t, 10*time.Second, "the customer's creation in the masked analytics feed", func() bool {
		stream, err := js.Stream(context.Background(), "CRM_ANALYTICS")
		if err != nil {
			return false
		}
		raw, err := stream.GetLastMsgForSubject(context.Background(), "analytics.crm.customer.customer.created")
		if err != nil {
			return false
		}
		ev, err := events.Decode(raw.Data)
		if err != nil {
			t.Fatal(err)
		}
		var got customerv1.Customer
		if err := ev.GetData().UnmarshalTo(&got); err != nil {
			t.Fatal(err)
		}
		if got.GetCustomerId() != c.CustomerID || got.GetMobile() != mobile[:3]+"****"+mobile[7:] || got.GetContactName() != "刘*" {
			t.Fatalf("analytics feed: %v", &got)
		}
		return true
	})
}

// status returns the HTTP status of a GET.
func (s *suite) status(t *testing.T, token, path string) int {
	t.Helper()
	resp, err := http.DefaultClient.Do(s.request(t, token, http.MethodGet, path, nil))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// post returns the HTTP status of a JSON POST.
func (s *suite) post(t *testing.T, token, path string, body any) int {
	t.Helper()
	resp, err := http.DefaultClient.Do(s.request(t, token, http.MethodPost, path, body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// unzip returns the files of a ZIP archive by name.
func unzip(t *testing.T, data []byte) map[string][]byte {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		out[f.Name] = b
	}
	return out
}
