// Package scenario holds the benchmark's requests: for each scenario, the request a client sends
// (over gRPC to the service, or over REST through the gateway) and the pgbench script with the
// same SQL, so that each figure can be set against what the database alone does.
//
// Requests address the seeded data through package seed's row functions: the customer of row i,
// its owner, a keyword taken from its name. It talks to the suite through the generated gRPC
// clients and plain HTTP only.
package scenario

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/crmsuite/crm/deploy/bench/internal/load"
	"github.com/crmsuite/crm/deploy/bench/internal/seed"
	"github.com/crmsuite/crm/pkg/authn"
	customerv1 "github.com/crmsuite/crm/proto/gen/go/crm/customer/v1"
	followupv1 "github.com/crmsuite/crm/proto/gen/go/crm/followup/v1"
	needsv1 "github.com/crmsuite/crm/proto/gen/go/crm/needs/v1"
)

// Addrs are where the suite listens.
type Addrs struct {
	Customer, FollowUp, Needs string
	Gateway                   string // http://host:port
}

// Users: who sends which requests.
const (
	// SalesRep creates customers (ScopeOwn: it owns what it creates). It is rep 41, in team t03.
	SalesRep  = "u-s0041"
	SalesTeam = "t03"
)

// Env is what the requests need: connections, tokens, the data layout.
type Env struct {
	Layout   seed.Layout
	Keywords []Keyword

	customers customerv1.CustomerServiceClient
	transfer  customerv1.CustomerTransferServiceClient
	followups followupv1.FollowUpServiceClient
	needs     needsv1.NeedServiceClient
	http      *http.Client
	gateway   string
	conns     []*grpc.ClientConn

	admin, sales, service string
	managers              []string // one per team

	// created numbers the customers created by this run, across scenarios, so that names and
	// mobiles never repeat (a repeat would be refused as a possible duplicate).
	created atomic.Int64
	// requests numbers the other requests that carry a request id.
	requests atomic.Int64
	// RunTag makes request ids unique across runs on the same database.
	RunTag string
}

// NewEnv dials the services and mints tokens with the suite's HS256 secret.
func NewEnv(a Addrs, secret string, l seed.Layout, keywords []Keyword) (*Env, error) {
	e := &Env{Layout: l, Keywords: keywords, gateway: a.Gateway, RunTag: time.Now().Format("150405")}
	dial := func(addr string) (*grpc.ClientConn, error) {
		c, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err == nil {
			e.conns = append(e.conns, c)
		}
		return c, err
	}
	cc, err := dial(a.Customer)
	if err != nil {
		return nil, err
	}
	e.customers = customerv1.NewCustomerServiceClient(cc)
	e.transfer = customerv1.NewCustomerTransferServiceClient(cc)
	fc, err := dial(a.FollowUp)
	if err != nil {
		return nil, err
	}
	e.followups = followupv1.NewFollowUpServiceClient(fc)
	nc, err := dial(a.Needs)
	if err != nil {
		return nil, err
	}
	e.needs = needsv1.NewNeedServiceClient(nc)
	e.http = &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{
		MaxIdleConns: 2000, MaxIdleConnsPerHost: 2000, IdleConnTimeout: time.Minute}}

	mint := func(user, team string, role authn.Role) (string, error) {
		return authn.IssueHS256([]byte(secret), "crm-dev", "crm",
			authn.Principal{UserID: user, Name: user, Team: team, Roles: []authn.Role{role}}, 6*time.Hour)
	}
	if e.admin, err = mint("u-admin", "hq", authn.RoleAdmin); err != nil {
		return nil, err
	}
	if e.sales, err = mint(SalesRep, SalesTeam, authn.RoleSales); err != nil {
		return nil, err
	}
	if e.service, err = mint("u-service", "support", authn.RoleService); err != nil {
		return nil, err
	}
	for t := range seed.Teams {
		tok, err := mint(fmt.Sprintf("u-m%02d", t+1), seed.TeamID(t), authn.RoleManager)
		if err != nil {
			return nil, err
		}
		e.managers = append(e.managers, tok)
	}
	return e, nil
}

// CloseIdleConnections closes the REST client's idle keep-alive connections to the gateway.
func (e *Env) CloseIdleConnections() { e.http.CloseIdleConnections() }

// Close closes the connections.
func (e *Env) Close() {
	for _, c := range e.conns {
		_ = c.Close()
	}
	e.http.CloseIdleConnections()
}

// AdminToken is a token of the admin user, for the harness's own checks.
func (e *Env) AdminToken() string { return e.admin }

// grpcErr reduces an error to its gRPC code (the error kind the results count).
func grpcErr(err error) error {
	if err == nil {
		return nil
	}
	if s, ok := status.FromError(err); ok {
		return fmt.Errorf("%s %s", s.Code(), reason(s))
	}
	return err
}

// reason is the ErrorInfo reason of a status and its first field violation, if any.
func reason(s *status.Status) string {
	var parts []string
	for _, d := range s.Details() {
		switch x := d.(type) {
		case *errdetails.ErrorInfo:
			parts = append(parts, x.GetReason())
		case *errdetails.BadRequest:
			if v := x.GetFieldViolations(); len(v) > 0 {
				parts = append(parts, v[0].GetField()+":"+v[0].GetReason())
			}
		}
	}
	return strings.Join(parts, " ")
}

// restError is the part of a REST error body (google.rpc.Status as JSON) that names the error.
type restError struct {
	Details []struct {
		Reason          string `json:"reason"`
		FieldViolations []struct {
			Field  string `json:"field"`
			Reason string `json:"reason"`
		} `json:"fieldViolations"`
	} `json:"details"`
}

func (r restError) String() string {
	var parts []string
	for _, d := range r.Details {
		if d.Reason != "" {
			parts = append(parts, d.Reason)
		}
		if len(d.FieldViolations) > 0 {
			parts = append(parts, d.FieldViolations[0].Field+":"+d.FieldViolations[0].Reason)
		}
	}
	return strings.Join(parts, " ")
}

// newCustomer builds the n-th customer this run creates: a company in the seeded style with a
// number in its name and a 196 mobile, which no seeded customer has. n also makes the request id.
func (e *Env) newCustomer() (*customerv1.Customer, int) {
	n := int(e.created.Add(1))
	province, city, district, street := seed.Address(n % e.Layout.Customers)
	return &customerv1.Customer{
		Name:         fmt.Sprintf("%s%s%d%s有限公司", strings.TrimSuffix(city, "市"), seed.Brand(n), n, seed.Trade(n)),
		Type:         customerv1.CustomerType_CUSTOMER_TYPE_ENTERPRISE,
		Industry:     "I65",
		ContactName:  seed.PersonName(n, 40),
		ContactTitle: "采购经理",
		Mobile:       fmt.Sprintf("196%08d", n),
		Address:      &customerv1.Address{Province: province, City: city, District: district, Street: street},
		Scale:        customerv1.Scale_SCALE_51_TO_200,
		Source:       customerv1.CustomerSource_CUSTOMER_SOURCE_EXHIBITION,
	}, n
}

// CreateGRPC creates a customer through CustomerService.CreateCustomer, as a sales rep.
func (e *Env) CreateGRPC() load.Request {
	return func(ctx context.Context, _ int) error {
		c, n := e.newCustomer()
		_, err := e.customers.CreateCustomer(authn.WithBearer(ctx, e.sales), &customerv1.CreateCustomerRequest{
			Customer: c, RequestId: fmt.Sprintf("bench-%s-%d", e.RunTag, n)})
		return grpcErr(err)
	}
}

// CreateREST creates a customer through POST /v1/customers on the gateway.
func (e *Env) CreateREST() load.Request {
	return func(ctx context.Context, _ int) error {
		c, n := e.newCustomer()
		body, err := protojson.Marshal(c)
		if err != nil {
			return err
		}
		return e.do(ctx, e.sales, http.MethodPost, fmt.Sprintf("/v1/customers?requestId=bench-%s-%d", e.RunTag, n), body)
	}
}

// do sends a REST request and reads the whole answer; any status but 200 is an error.
func (e *Env) do(ctx context.Context, token, method, path string, body []byte) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, e.gateway+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := e.http.Do(req)
	if err != nil {
		return fmt.Errorf("http: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var re restError
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		_ = json.Unmarshal(b, &re)
		return fmt.Errorf("HTTP %d %s", resp.StatusCode, re)
	}
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return fmt.Errorf("http: read body: %w", err)
	}
	return nil
}

// customerFor maps request i to a seeded customer number, spread over the whole table.
func (e *Env) customerFor(i int, salt uint64) int {
	return int(mixIndex(uint64(i), salt) % uint64(e.Layout.Customers))
}

// liveCustomerFor is customerFor skipping deleted customers.
func (e *Env) liveCustomerFor(i int, salt uint64) int {
	return e.Layout.LiveCustomer(mixIndex(uint64(i), salt))
}

func mixIndex(x, salt uint64) uint64 {
	z := x*0x9e3779b97f4a7c15 + salt*0xd1b54a32d192ed03 + 0x2545f4914f6cdd1d
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// GetGRPC reads one seeded customer by id as an admin (any customer, deleted ones too).
func (e *Env) GetGRPC() load.Request {
	return func(ctx context.Context, i int) error {
		_, err := e.customers.GetCustomer(authn.WithBearer(ctx, e.admin),
			&customerv1.GetCustomerRequest{CustomerId: e.Layout.CustomerID(e.customerFor(i, 1))})
		return grpcErr(err)
	}
}

// GetREST reads one seeded customer through GET /v1/customers/{id}.
func (e *Env) GetREST() load.Request {
	return func(ctx context.Context, i int) error {
		return e.do(ctx, e.admin, http.MethodGet, "/v1/customers/"+e.Layout.CustomerID(e.customerFor(i, 1)), nil)
	}
}

// ListStatuses and ListProvinces are what the list scenario filters on.
var ListStatuses = []string{"potential", "intention", "active"}

// ListProvinces are the ten provinces with the most customers.
var ListProvinces = seed.TopProvinces(10)

// ListFilter is the filter of request i: a status and a province, as a team manager filters.
func ListFilter(i int) (team, status, province string) {
	x := mixIndex(uint64(i), 3)
	return seed.TeamID(int(x % seed.Teams)), ListStatuses[(x/seed.Teams)%3], ListProvinces[(x/seed.Teams/3)%10]
}

// ListGRPC lists the first page (20) of a team's customers with a status and a province, newest
// first, as that team's manager.
func (e *Env) ListGRPC() load.Request {
	return func(ctx context.Context, i int) error {
		team, st, prov := ListFilter(i)
		t := 0
		fmt.Sscanf(team, "t%d", &t)
		_, err := e.customers.ListCustomers(authn.WithBearer(ctx, e.managers[t-1]), &customerv1.ListCustomersRequest{
			PageSize: 20, OrderBy: "create_time desc",
			Filter: fmt.Sprintf(`status = %s AND province = "%s"`, st, prov)})
		return grpcErr(err)
	}
}

// SearchGRPC searches by keyword (the mix in Keywords) as a service agent, who sees every customer.
func (e *Env) SearchGRPC(keywords []Keyword) load.Request {
	return func(ctx context.Context, i int) error {
		k := keywords[int(mixIndex(uint64(i), 4)%uint64(len(keywords)))]
		_, err := e.customers.SearchCustomers(authn.WithBearer(ctx, e.service),
			&customerv1.SearchCustomersRequest{Query: k.Query, PageSize: 20})
		return grpcErr(err)
	}
}

// UpdateGRPC changes the remarks of a live seeded customer as an admin (no etag: last write wins).
func (e *Env) UpdateGRPC() load.Request {
	return func(ctx context.Context, i int) error {
		id := e.Layout.CustomerID(e.liveCustomerFor(i, 5))
		_, err := e.customers.UpdateCustomer(authn.WithBearer(ctx, e.admin), &customerv1.UpdateCustomerRequest{
			Customer:   &customerv1.Customer{CustomerId: id, Remarks: fmt.Sprintf("压测更新 %s-%d", e.RunTag, i)},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"remarks"}}})
		return grpcErr(err)
	}
}

// FollowUpGRPC logs a phone call with a live seeded customer as a service agent.
func (e *Env) FollowUpGRPC() load.Request {
	return func(ctx context.Context, i int) error {
		n := e.liveCustomerFor(i, 6)
		_, err := e.followups.CreateFollowUp(authn.WithBearer(ctx, e.service), &followupv1.CreateFollowUpRequest{
			CustomerId: e.Layout.CustomerID(n),
			RequestId:  fmt.Sprintf("bench-%s-f%d", e.RunTag, e.requests.Add(1)),
			Followup: &followupv1.FollowUp{
				ContactName: seed.PersonName(n, 40),
				Method:      followupv1.ContactMethod_CONTACT_METHOD_PHONE,
				ContactTime: timestamppb.New(time.Now().Add(-time.Hour)),
				Kind:        followupv1.FollowUpKind_FOLLOW_UP_KIND_NEED_FOLLOWUP,
				Content:     "电话沟通了解采购计划，客户预计下季度启动",
			}})
		return grpcErr(err)
	}
}

// ReportGRPC asks for a team's sales pipeline (stage counts, amounts, weighted forecast, per
// owner) as the team's manager.
func (e *Env) ReportGRPC() load.Request {
	return func(ctx context.Context, i int) error {
		t := int(mixIndex(uint64(i), 7) % seed.Teams)
		_, err := e.needs.GetPipeline(authn.WithBearer(ctx, e.managers[t]), &needsv1.GetPipelineRequest{GroupByOwner: true})
		return grpcErr(err)
	}
}
