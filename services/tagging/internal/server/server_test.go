package server_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/crmsuite/crm/pkg/authn"
	"github.com/crmsuite/crm/pkg/customerref"
	"github.com/crmsuite/crm/pkg/grpcx"
	"github.com/crmsuite/crm/pkg/pgdb"
	"github.com/crmsuite/crm/pkg/testkit"
	customerv1 "github.com/crmsuite/crm/proto/gen/go/crm/customer/v1"
	taggingv1 "github.com/crmsuite/crm/proto/gen/go/crm/tagging/v1"
	"github.com/crmsuite/crm/services/tagging/internal/server"
	"github.com/crmsuite/crm/services/tagging/internal/store"
)

var secret = []byte("test-secret-test-secret-test-secret!")

// The customers the fake customer service knows: one live customer of sales1 (team east), one
// deleted, one of sales3 (team west).
const (
	custEast    = "CUST-20260101-0001"
	custDeleted = "CUST-20260101-0002"
	custWest    = "CUST-20260101-0003"
	custUnknown = "CUST-20260101-0099"
	tagHigh     = "T20000101001"
	tagLow      = "T20000101003"
)

// customers stands in for the customer service at the edge of these tests.
type customers struct {
	customerv1.UnimplementedCustomerServiceServer
}

func (customers) GetCustomer(_ context.Context, req *customerv1.GetCustomerRequest) (*customerv1.Customer, error) {
	switch req.GetCustomerId() {
	case custEast:
		return &customerv1.Customer{CustomerId: custEast, OwnerId: "u-sales1", TeamId: "east", Etag: "1"}, nil
	case custDeleted:
		return &customerv1.Customer{CustomerId: custDeleted, OwnerId: "u-sales1", TeamId: "east", Etag: "2", DeleteTime: timestamppb.Now()}, nil
	case custWest:
		return &customerv1.Customer{CustomerId: custWest, OwnerId: "u-sales3", TeamId: "west", Etag: "1"}, nil
	}
	return nil, status.Error(codes.NotFound, "no such customer")
}

type env struct {
	client taggingv1.TaggingServiceClient
}

func start(t *testing.T) env {
	t.Helper()
	ctx := context.Background()
	pool, err := pgdb.Connect(ctx, testkit.NewDatabase(t), store.Schema)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if err := store.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	verifier, err := authn.NewHS256Verifier(secret, "crm-dev", "crm")
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))

	fake := grpc.NewServer()
	customerv1.RegisterCustomerServiceServer(fake, customers{})
	customerConn, err := grpcx.Dial(serve(t, fake))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { customerConn.Close() })
	refs := customerref.New(pool, customerv1.NewCustomerServiceClient(customerConn), func() (string, error) { return "system-token", nil })

	srv, _ := grpcx.NewServer(grpcx.ServerConfig{Domain: server.Domain, Verifier: verifier, Policy: server.Policy, Logger: log})
	taggingv1.RegisterTaggingServiceServer(srv, server.New(store.New(pool, server.EventData()), refs, log))
	if missing := server.Policy.Uncovered(srv.GetServiceInfo()); len(missing) > 0 {
		t.Fatalf("RPCs without a permission: %v", missing)
	}
	conn, err := grpc.NewClient(serve(t, srv), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return env{client: taggingv1.NewTaggingServiceClient(conn)}
}

func serve(t *testing.T, srv *grpc.Server) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return lis.Addr().String()
}

var users = map[string]authn.Principal{
	"admin":     {UserID: "u-admin", Team: "hq", Roles: []authn.Role{authn.RoleAdmin}},
	"manager":   {UserID: "u-manager", Team: "east", Roles: []authn.Role{authn.RoleManager}},
	"managerW":  {UserID: "u-manager-w", Team: "west", Roles: []authn.Role{authn.RoleManager}},
	"sales1":    {UserID: "u-sales1", Team: "east", Roles: []authn.Role{authn.RoleSales}},
	"sales2":    {UserID: "u-sales2", Team: "east", Roles: []authn.Role{authn.RoleSales}},
	"service":   {UserID: "u-service", Team: "support", Roles: []authn.Role{authn.RoleService}},
	"executive": {UserID: "u-exec", Team: "hq", Roles: []authn.Role{authn.RoleExecutive}},
	"system":    {UserID: "service:customer", Roles: []authn.Role{authn.RoleSystem}},
}

func as(t *testing.T, user string) context.Context {
	t.Helper()
	if user == "" {
		return context.Background()
	}
	tok, err := authn.IssueHS256(secret, "crm-dev", "crm", users[user], time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+tok)
}

func inLang(ctx context.Context, lang string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "accept-language", lang)
}

var tagSeq int

func newTag(t *testing.T, e env, category taggingv1.TagCategory) *taggingv1.Tag {
	t.Helper()
	tagSeq++
	tag, err := e.client.CreateTag(as(t, "admin"), &taggingv1.CreateTagRequest{Tag: &taggingv1.Tag{
		Category: category, Name: "标签" + strings.Repeat("甲", tagSeq%10) + string(rune('A'+tagSeq%26)) + string(rune('a'+tagSeq/26))}})
	if err != nil {
		t.Fatal(err)
	}
	return tag
}

func newSegment(t *testing.T, e env, user string) *taggingv1.Segment {
	t.Helper()
	tagSeq++
	g, err := e.client.CreateSegment(as(t, user), &taggingv1.CreateSegmentRequest{Segment: &taggingv1.Segment{
		Name: "分群" + string(rune('A'+tagSeq%26)) + string(rune('a'+tagSeq/26)), Expression: "level = high"}})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func details(err error) (*errdetails.ErrorInfo, map[string]*errdetails.BadRequest_FieldViolation) {
	var info *errdetails.ErrorInfo
	fields := map[string]*errdetails.BadRequest_FieldViolation{}
	for _, d := range status.Convert(err).Details() {
		switch d := d.(type) {
		case *errdetails.ErrorInfo:
			info = d
		case *errdetails.BadRequest:
			for _, v := range d.GetFieldViolations() {
				fields[v.GetField()] = v
			}
		}
	}
	return info, fields
}

func TestRoleMatrix(t *testing.T) {
	e := start(t)
	mask := &fieldmaskpb.FieldMask{Paths: []string{"description"}}
	calls := map[string]func(ctx context.Context) error{
		"CreateTag": func(ctx context.Context) error {
			tagSeq++
			_, err := e.client.CreateTag(ctx, &taggingv1.CreateTagRequest{Tag: &taggingv1.Tag{
				Category: taggingv1.TagCategory_TAG_CATEGORY_NEED, Name: "需求" + string(rune('A'+tagSeq%26)) + string(rune('a'+tagSeq/26))}})
			return err
		},
		"GetTag": func(ctx context.Context) error {
			_, err := e.client.GetTag(ctx, &taggingv1.GetTagRequest{TagId: tagHigh})
			return err
		},
		"ListTags": func(ctx context.Context) error {
			_, err := e.client.ListTags(ctx, &taggingv1.ListTagsRequest{})
			return err
		},
		"UpdateTag": func(ctx context.Context) error {
			tag := newTag(t, e, taggingv1.TagCategory_TAG_CATEGORY_CUSTOM)
			_, err := e.client.UpdateTag(ctx, &taggingv1.UpdateTagRequest{Tag: &taggingv1.Tag{TagId: tag.GetTagId(), Description: "说明"}, UpdateMask: mask})
			return err
		},
		"DeleteTag": func(ctx context.Context) error {
			tag := newTag(t, e, taggingv1.TagCategory_TAG_CATEGORY_CUSTOM)
			_, err := e.client.DeleteTag(ctx, &taggingv1.DeleteTagRequest{TagId: tag.GetTagId()})
			return err
		},
		"AssignTag": func(ctx context.Context) error {
			tag := newTag(t, e, taggingv1.TagCategory_TAG_CATEGORY_NEED)
			_, err := e.client.AssignTag(ctx, &taggingv1.AssignTagRequest{CustomerId: custEast, TagId: tag.GetTagId()})
			return err
		},
		"RemoveTag": func(ctx context.Context) error {
			tag := newTag(t, e, taggingv1.TagCategory_TAG_CATEGORY_NEED)
			if _, err := e.client.AssignTag(as(t, "admin"), &taggingv1.AssignTagRequest{CustomerId: custEast, TagId: tag.GetTagId()}); err != nil {
				t.Fatal(err)
			}
			_, err := e.client.RemoveTag(ctx, &taggingv1.RemoveTagRequest{CustomerId: custEast, TagId: tag.GetTagId()})
			return err
		},
		"ListCustomerTags": func(ctx context.Context) error {
			_, err := e.client.ListCustomerTags(ctx, &taggingv1.ListCustomerTagsRequest{CustomerId: custEast})
			return err
		},
		"ListTagHistory": func(ctx context.Context) error {
			_, err := e.client.ListTagHistory(ctx, &taggingv1.ListTagHistoryRequest{CustomerId: custEast})
			return err
		},
		"SearchCustomersByTags": func(ctx context.Context) error {
			_, err := e.client.SearchCustomersByTags(ctx, &taggingv1.SearchCustomersByTagsRequest{Expression: "level = high"})
			return err
		},
		"CreateSegment": func(ctx context.Context) error {
			tagSeq++
			_, err := e.client.CreateSegment(ctx, &taggingv1.CreateSegmentRequest{Segment: &taggingv1.Segment{
				Name: "矩阵" + string(rune('A'+tagSeq%26)) + string(rune('a'+tagSeq/26)), Expression: `tag:"高价值"`}})
			return err
		},
		"GetSegment": func(ctx context.Context) error {
			_, err := e.client.GetSegment(ctx, &taggingv1.GetSegmentRequest{SegmentId: newSegment(t, e, "admin").GetSegmentId()})
			return err
		},
		"ListSegments": func(ctx context.Context) error {
			_, err := e.client.ListSegments(ctx, &taggingv1.ListSegmentsRequest{})
			return err
		},
		"UpdateSegment": func(ctx context.Context) error {
			g := newSegment(t, e, "admin")
			_, err := e.client.UpdateSegment(ctx, &taggingv1.UpdateSegmentRequest{Segment: &taggingv1.Segment{SegmentId: g.GetSegmentId(), Description: "说明"}, UpdateMask: mask})
			return err
		},
		"UpdateOwnSegment": func(ctx context.Context) error {
			g := newSegment(t, e, "manager")
			_, err := e.client.UpdateSegment(ctx, &taggingv1.UpdateSegmentRequest{Segment: &taggingv1.Segment{SegmentId: g.GetSegmentId(), Description: "说明"}, UpdateMask: mask})
			return err
		},
		"DeleteSegment": func(ctx context.Context) error {
			_, err := e.client.DeleteSegment(ctx, &taggingv1.DeleteSegmentRequest{SegmentId: newSegment(t, e, "admin").GetSegmentId()})
			return err
		},
		"ListSegmentCustomers": func(ctx context.Context) error {
			_, err := e.client.ListSegmentCustomers(ctx, &taggingv1.ListSegmentCustomersRequest{SegmentId: newSegment(t, e, "admin").GetSegmentId()})
			return err
		},
	}
	const (
		ok     = codes.OK
		denied = codes.PermissionDenied
		hidden = codes.NotFound
		anon   = codes.Unauthenticated
	)
	everyone := map[string]codes.Code{"admin": ok, "manager": ok, "sales1": ok, "service": ok, "executive": ok, "system": ok, "": anon}
	adminOnly := map[string]codes.Code{"admin": ok, "manager": denied, "sales1": denied, "service": denied, "executive": denied, "system": denied, "": anon}
	tagWriters := map[string]codes.Code{"admin": ok, "manager": ok, "managerW": hidden, "sales1": ok, "sales2": hidden,
		"service": denied, "executive": denied, "system": denied, "": anon}
	customerReaders := map[string]codes.Code{"admin": ok, "manager": ok, "managerW": hidden, "sales1": ok, "sales2": hidden,
		"service": ok, "executive": ok, "system": ok, "": anon}
	// The customer under test is owned by sales1 of team east; segments are made by the admin
	// (managers change only their own).
	matrix := map[string]map[string]codes.Code{
		"CreateTag":             adminOnly,
		"GetTag":                everyone,
		"ListTags":              everyone,
		"UpdateTag":             adminOnly,
		"DeleteTag":             adminOnly,
		"AssignTag":             tagWriters,
		"RemoveTag":             tagWriters,
		"ListCustomerTags":      customerReaders,
		"ListTagHistory":        customerReaders,
		"SearchCustomersByTags": everyone,
		"CreateSegment":         {"admin": ok, "manager": ok, "sales1": denied, "service": denied, "executive": denied, "system": denied},
		"GetSegment":            everyone,
		"ListSegments":          everyone,
		"UpdateSegment":         {"admin": ok, "manager": denied, "sales1": denied, "service": denied, "executive": denied},
		"UpdateOwnSegment":      {"admin": ok, "manager": ok, "managerW": denied},
		"DeleteSegment":         {"admin": ok, "manager": denied, "sales1": denied, "service": denied, "executive": denied},
		"ListSegmentCustomers":  everyone,
	}
	for rpc, byUser := range matrix {
		for user, want := range byUser {
			t.Run(rpc+"/"+user, func(t *testing.T) {
				err := calls[rpc](as(t, user))
				if got := status.Code(err); got != want {
					t.Fatalf("%s as %q: %v, want %v", rpc, user, err, want)
				}
			})
		}
	}
}

func TestCreateTagValidationInBothLanguages(t *testing.T) {
	e := start(t)
	bad := &taggingv1.Tag{Name: strings.Repeat("长", 21), Color: "blue", LevelValue: "high"}
	for lang, want := range map[string]string{"": "标签名称不能超过20个字符", "en": "Tag name must be at most 20 characters"} {
		ctx := as(t, "admin")
		if lang != "" {
			ctx = inLang(ctx, lang)
		}
		_, err := e.client.CreateTag(ctx, &taggingv1.CreateTagRequest{Tag: bad})
		if status.Code(err) != codes.InvalidArgument {
			t.Fatalf("code = %v", err)
		}
		_, fields := details(err)
		for _, f := range []string{"tag.category", "tag.name", "tag.color"} {
			if fields[f] == nil {
				t.Errorf("lang %q: no violation for %s in %v", lang, f, fields)
			}
		}
		if got := fields["tag.name"].GetDescription(); got != want {
			t.Errorf("lang %q: name message %q, want %q", lang, got, want)
		}
	}
	// A level value on a non-level tag is refused once the category is known.
	_, err := e.client.CreateTag(as(t, "admin"), &taggingv1.CreateTagRequest{Tag: &taggingv1.Tag{
		Category: taggingv1.TagCategory_TAG_CATEGORY_NEED, Name: "需求", LevelValue: "high"}})
	if _, fields := details(err); fields["tag.level_value"].GetReason() != "NOT_ALLOWED" {
		t.Fatalf("level value on a need tag: %v", err)
	}
}

func TestTagIdempotencyEtagAndDuplicates(t *testing.T) {
	e := start(t)
	ctx := as(t, "admin")
	req := &taggingv1.CreateTagRequest{RequestId: "req-1", Tag: &taggingv1.Tag{Category: taggingv1.TagCategory_TAG_CATEGORY_BEHAVIOR, Name: "价格敏感", Color: "#ff0000"}}
	first, err := e.client.CreateTag(ctx, req)
	if err != nil || first.GetColor() != "#FF0000" || first.GetEtag() != "1" || first.GetCreatedBy() != "u-admin" {
		t.Fatalf("create: %v %v", first, err)
	}
	again, err := e.client.CreateTag(ctx, req)
	if err != nil || again.GetTagId() != first.GetTagId() {
		t.Fatalf("retry created another: %v %v", again, err)
	}
	_, err = e.client.CreateTag(ctx, &taggingv1.CreateTagRequest{Tag: &taggingv1.Tag{Category: taggingv1.TagCategory_TAG_CATEGORY_BEHAVIOR, Name: "价格 敏感"}})
	if err != nil {
		t.Fatalf("a name with a space is another name: %v", err)
	}
	_, err = e.client.CreateTag(ctx, &taggingv1.CreateTagRequest{Tag: &taggingv1.Tag{Category: taggingv1.TagCategory_TAG_CATEGORY_BEHAVIOR, Name: " 价格敏感 "}})
	if info, _ := details(err); status.Code(err) != codes.AlreadyExists || info.GetReason() != "DUPLICATE_TAG_NAME" || info.GetDomain() != "tagging.crm" {
		t.Fatalf("duplicate name: %v", err)
	}
	upd := func(etag string) error {
		_, err := e.client.UpdateTag(ctx, &taggingv1.UpdateTagRequest{
			Tag:        &taggingv1.Tag{TagId: first.GetTagId(), Etag: etag, Name: "价格敏感型", Category: taggingv1.TagCategory_TAG_CATEGORY_SOURCE},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"name"}}})
		return err
	}
	if err := upd(first.GetEtag()); err != nil {
		t.Fatal(err)
	}
	if err := upd(first.GetEtag()); status.Code(err) != codes.Aborted {
		t.Fatalf("stale etag: %v", err)
	}
	_, err = e.client.UpdateTag(ctx, &taggingv1.UpdateTagRequest{Tag: &taggingv1.Tag{TagId: first.GetTagId()},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"category"}}})
	if _, fields := details(err); fields["update_mask"] == nil {
		t.Fatalf("category change: %v", err)
	}
	got, err := e.client.GetTag(ctx, &taggingv1.GetTagRequest{TagId: strings.ToLower(first.GetTagId())})
	if err != nil || got.GetName() != "价格敏感型" || got.GetCategory() != taggingv1.TagCategory_TAG_CATEGORY_BEHAVIOR || got.GetEtag() != "2" {
		t.Fatalf("get: %v %v", got, err)
	}
	if _, err := e.client.GetTag(ctx, &taggingv1.GetTagRequest{TagId: "X1"}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("bad id: %v", err)
	}
	list, err := e.client.ListTags(ctx, &taggingv1.ListTagsRequest{Category: taggingv1.TagCategory_TAG_CATEGORY_LEVEL})
	if err != nil || len(list.GetTags()) != 3 || list.GetTags()[0].GetLevelValue() == "" {
		t.Fatalf("level tags: %v %v", list, err)
	}
}

func TestAssignLevelThroughTheAPI(t *testing.T) {
	e := start(t)
	ctx := as(t, "sales1")
	first, err := e.client.AssignTag(ctx, &taggingv1.AssignTagRequest{CustomerId: strings.ToLower(custEast), TagId: tagHigh})
	if err != nil || first.GetAssignedBy() != "u-sales1" || first.GetTag().GetLevelValue() != "high" {
		t.Fatalf("assign: %v %v", first, err)
	}
	again, err := e.client.AssignTag(ctx, &taggingv1.AssignTagRequest{CustomerId: custEast, TagId: tagHigh})
	if err != nil || !again.GetAssignTime().AsTime().Equal(first.GetAssignTime().AsTime()) {
		t.Fatalf("repeated assign: %v %v", again, err)
	}
	if _, err := e.client.AssignTag(ctx, &taggingv1.AssignTagRequest{CustomerId: custEast, TagId: tagLow}); err != nil {
		t.Fatal(err)
	}
	tags, err := e.client.ListCustomerTags(as(t, "executive"), &taggingv1.ListCustomerTagsRequest{CustomerId: custEast})
	if err != nil || tags.GetLevel() != "low" || len(tags.GetCustomerTags()) != 1 || tags.GetCustomerTags()[0].GetTag().GetTagId() != tagLow {
		t.Fatalf("tags: %v %v", tags, err)
	}
	h, err := e.client.ListTagHistory(ctx, &taggingv1.ListTagHistoryRequest{CustomerId: custEast, PageSize: 2})
	if err != nil || len(h.GetEntries()) != 2 || h.GetNextPageToken() == "" {
		t.Fatalf("history page 1: %v %v", h, err)
	}
	if got := h.GetEntries()[0]; got.GetAction() != taggingv1.TagHistoryAction_TAG_HISTORY_ACTION_ASSIGNED || got.GetTagId() != tagLow ||
		got.GetActor().GetUserId() != "u-sales1" || got.GetActor().GetRole() != "sales" {
		t.Fatalf("newest entry: %v", got)
	}
	if got := h.GetEntries()[1]; got.GetAction() != taggingv1.TagHistoryAction_TAG_HISTORY_ACTION_REMOVED || got.GetReason() != "replaced" {
		t.Fatalf("replaced entry: %v", got)
	}
	h2, err := e.client.ListTagHistory(ctx, &taggingv1.ListTagHistoryRequest{CustomerId: custEast, PageSize: 2, PageToken: h.GetNextPageToken()})
	if err != nil || len(h2.GetEntries()) != 1 || h2.GetNextPageToken() != "" || h2.GetEntries()[0].GetTagName() != "高价值" {
		t.Fatalf("history page 2: %v %v", h2, err)
	}
	if _, err := e.client.ListTagHistory(as(t, "admin"), &taggingv1.ListTagHistoryRequest{CustomerId: custEast, PageSize: 2, PageToken: h.GetNextPageToken()}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("another caller's page token: %v", err)
	}
	_, err = e.client.RemoveTag(ctx, &taggingv1.RemoveTagRequest{CustomerId: custEast, TagId: tagHigh})
	if info, _ := details(err); status.Code(err) != codes.NotFound || info.GetReason() != "CUSTOMER_TAG_NOT_FOUND" {
		t.Fatalf("remove a tag it does not have: %v", err)
	}
}

func TestAssignChecksTheCustomer(t *testing.T) {
	e := start(t)
	ctx := as(t, "admin")
	cases := []struct {
		name, customer, tag string
		code                codes.Code
		reason              string
	}{
		{"deleted customer", custDeleted, tagHigh, codes.FailedPrecondition, "CUSTOMER_DELETED"},
		{"unknown customer", custUnknown, tagHigh, codes.NotFound, "CUSTOMER_NOT_FOUND"},
		{"unknown tag", custEast, "T20990101001", codes.NotFound, "TAG_NOT_FOUND"},
		{"malformed customer id", "12345", tagHigh, codes.InvalidArgument, "INVALID_ARGUMENT"},
		{"malformed tag id", custEast, "高价值", codes.InvalidArgument, "INVALID_ARGUMENT"},
	}
	for _, c := range cases {
		_, err := e.client.AssignTag(ctx, &taggingv1.AssignTagRequest{CustomerId: c.customer, TagId: c.tag})
		if info, _ := details(err); status.Code(err) != c.code || info.GetReason() != c.reason {
			t.Errorf("%s: %v, want %v %s", c.name, err, c.code, c.reason)
		}
	}
	// Admins still read a deleted customer's tags; sales reps do not.
	if _, err := e.client.ListCustomerTags(ctx, &taggingv1.ListCustomerTagsRequest{CustomerId: custDeleted}); err != nil {
		t.Fatalf("admin reads deleted customer's tags: %v", err)
	}
	if _, err := e.client.ListCustomerTags(as(t, "sales1"), &taggingv1.ListCustomerTagsRequest{CustomerId: custDeleted}); status.Code(err) != codes.NotFound {
		t.Fatalf("sales reads deleted customer's tags: %v", err)
	}
}

func TestExpressionErrors(t *testing.T) {
	e := start(t)
	_, err := e.client.SearchCustomersByTags(inLang(as(t, "sales1"), "en"), &taggingv1.SearchCustomersByTagsRequest{Expression: "level = high AND"})
	info, fields := details(err)
	if status.Code(err) != codes.InvalidArgument || info.GetReason() != "INVALID_EXPRESSION" || info.GetMetadata()["position"] != "17" ||
		!strings.Contains(fields["expression"].GetDescription(), "at character 17") {
		t.Fatalf("syntax error: %v %v %v", err, info, fields)
	}
	_, err = e.client.SearchCustomersByTags(as(t, "sales1"), &taggingv1.SearchCustomersByTagsRequest{Expression: `tag:"高价值" OR tag:"不存在的标签"`})
	if _, fields := details(err); status.Code(err) != codes.InvalidArgument || fields["expression"].GetReason() != "UNKNOWN_CODE" ||
		!strings.Contains(fields["expression"].GetDescription(), "第 14 个字符") {
		t.Fatalf("unknown tag: %v", err)
	}
	_, err = e.client.CreateSegment(as(t, "admin"), &taggingv1.CreateSegmentRequest{Segment: &taggingv1.Segment{Name: "x", Expression: `need:"不存在"`}})
	if _, fields := details(err); fields["segment.expression"].GetReason() != "UNKNOWN_CODE" {
		t.Fatalf("segment with an unknown tag: %v", err)
	}
	_, err = e.client.CreateSegment(as(t, "admin"), &taggingv1.CreateSegmentRequest{Segment: &taggingv1.Segment{Expression: `level = (`}})
	if _, fields := details(err); fields["segment.expression"].GetReason() != "INVALID_FORMAT" || fields["segment.name"].GetReason() != "REQUIRED" {
		t.Fatalf("segment with a syntax error and no name: %v", err)
	}
}

func TestSegmentsAreEvaluatedInTheCallersScope(t *testing.T) {
	e := start(t)
	admin := as(t, "admin")
	for _, c := range []string{custEast, custWest} {
		if _, err := e.client.AssignTag(admin, &taggingv1.AssignTagRequest{CustomerId: c, TagId: tagHigh}); err != nil {
			t.Fatal(err)
		}
	}
	req := &taggingv1.CreateSegmentRequest{RequestId: "seg-1", Segment: &taggingv1.Segment{Name: "高价值客户", Description: "重点跟进", Expression: `level = high AND tag:"高价值"`}}
	g, err := e.client.CreateSegment(as(t, "manager"), req)
	if err != nil || g.GetCreatedBy() != "u-manager" {
		t.Fatalf("create: %v %v", g, err)
	}
	if again, err := e.client.CreateSegment(as(t, "manager"), req); err != nil || again.GetSegmentId() != g.GetSegmentId() {
		t.Fatalf("retry: %v %v", again, err)
	}
	for user, want := range map[string]string{"admin": custEast + " " + custWest, "manager": custEast, "managerW": custWest,
		"sales1": custEast, "sales2": "", "executive": custEast + " " + custWest} {
		resp, err := e.client.ListSegmentCustomers(as(t, user), &taggingv1.ListSegmentCustomersRequest{SegmentId: g.GetSegmentId()})
		if err != nil || strings.Join(resp.GetCustomerIds(), " ") != want {
			t.Errorf("%s evaluates the segment to %v (%v), want %q", user, resp.GetCustomerIds(), err, want)
		}
		direct, err := e.client.SearchCustomersByTags(as(t, user), &taggingv1.SearchCustomersByTagsRequest{Expression: g.GetExpression()})
		if err != nil || strings.Join(direct.GetCustomerIds(), " ") != want {
			t.Errorf("%s searches %v (%v), want %q", user, direct.GetCustomerIds(), err, want)
		}
	}
	page, err := e.client.SearchCustomersByTags(admin, &taggingv1.SearchCustomersByTagsRequest{Expression: "level = high", PageSize: 1})
	if err != nil || len(page.GetCustomerIds()) != 1 || page.GetNextPageToken() == "" {
		t.Fatalf("first page: %v %v", page, err)
	}
	if _, err := e.client.SearchCustomersByTags(admin, &taggingv1.SearchCustomersByTagsRequest{Expression: "level = low", PageToken: page.GetNextPageToken()}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("page token of another expression: %v", err)
	}
	// The same expression written differently continues the same query.
	next, err := e.client.SearchCustomersByTags(admin, &taggingv1.SearchCustomersByTagsRequest{Expression: "LEVEL=HIGH", PageSize: 1, PageToken: page.GetNextPageToken()})
	if err != nil || len(next.GetCustomerIds()) != 1 || next.GetCustomerIds()[0] == page.GetCustomerIds()[0] {
		t.Fatalf("second page: %v %v", next, err)
	}

	mask := &fieldmaskpb.FieldMask{Paths: []string{"expression"}}
	_, err = e.client.UpdateSegment(as(t, "managerW"), &taggingv1.UpdateSegmentRequest{Segment: &taggingv1.Segment{SegmentId: g.GetSegmentId(), Expression: "level = low"}, UpdateMask: mask})
	if info, _ := details(err); status.Code(err) != codes.PermissionDenied || info.GetReason() != "NOT_SEGMENT_OWNER" {
		t.Fatalf("another manager updates: %v", err)
	}
	up, err := e.client.UpdateSegment(as(t, "manager"), &taggingv1.UpdateSegmentRequest{Segment: &taggingv1.Segment{SegmentId: g.GetSegmentId(), Etag: g.GetEtag(), Expression: "level = low"}, UpdateMask: mask})
	if err != nil || up.GetExpression() != "level = low" || up.GetEtag() != "2" {
		t.Fatalf("update: %v %v", up, err)
	}
	_, err = e.client.UpdateSegment(as(t, "manager"), &taggingv1.UpdateSegmentRequest{Segment: &taggingv1.Segment{SegmentId: g.GetSegmentId(), Etag: g.GetEtag(), Expression: "level = medium"}, UpdateMask: mask})
	if status.Code(err) != codes.Aborted {
		t.Fatalf("stale etag: %v", err)
	}
	if _, err := e.client.DeleteSegment(admin, &taggingv1.DeleteSegmentRequest{SegmentId: g.GetSegmentId()}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.ListSegmentCustomers(admin, &taggingv1.ListSegmentCustomersRequest{SegmentId: g.GetSegmentId()}); status.Code(err) != codes.NotFound {
		t.Fatalf("deleted segment: %v", err)
	}
}

func TestDeletedTagsMatchNobodyInSavedSegments(t *testing.T) {
	e := start(t)
	admin := as(t, "admin")
	tag := newTag(t, e, taggingv1.TagCategory_TAG_CATEGORY_SOURCE)
	if _, err := e.client.AssignTag(admin, &taggingv1.AssignTagRequest{CustomerId: custEast, TagId: tag.GetTagId()}); err != nil {
		t.Fatal(err)
	}
	g, err := e.client.CreateSegment(admin, &taggingv1.CreateSegmentRequest{Segment: &taggingv1.Segment{Name: "来源", Expression: `source:"` + tag.GetName() + `"`}})
	if err != nil {
		t.Fatal(err)
	}
	count := func() int {
		resp, err := e.client.ListSegmentCustomers(admin, &taggingv1.ListSegmentCustomersRequest{SegmentId: g.GetSegmentId()})
		if err != nil {
			t.Fatal(err)
		}
		return len(resp.GetCustomerIds())
	}
	if n := count(); n != 1 {
		t.Fatalf("before delete: %d", n)
	}
	if _, err := e.client.DeleteTag(admin, &taggingv1.DeleteTagRequest{TagId: tag.GetTagId(), Etag: tag.GetEtag()}); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 0 {
		t.Fatalf("after delete: %d", n)
	}
}
