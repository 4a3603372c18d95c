package analytics_test

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/crmsuite/crm/pkg/analytics"
	"github.com/crmsuite/crm/pkg/events"
	commonv1 "github.com/crmsuite/crm/proto/gen/go/crm/common/v1"
	customerv1 "github.com/crmsuite/crm/proto/gen/go/crm/customer/v1"
	eventsv1 "github.com/crmsuite/crm/proto/gen/go/crm/events/v1"
	followupv1 "github.com/crmsuite/crm/proto/gen/go/crm/followup/v1"
)

var actor = &commonv1.Actor{UserId: "u-sales1", Role: "sales", TeamId: "east"}

func change(t *testing.T, field string, before, after any) *commonv1.FieldChange {
	t.Helper()
	ch, err := events.Change(field, before, after)
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

func customerEvent(t *testing.T, typ customerv1.CustomerType, name string, changes ...*commonv1.FieldChange) *eventsv1.Event {
	t.Helper()
	c := &customerv1.Customer{
		CustomerId: "CUST-20261202-0001", Name: name, Type: typ, ContactName: "欧阳娜娜", Mobile: "13812345678",
		Landline: "0571-88886666", Email: "nana.ouyang@example.com", OwnerId: "u-sales1",
		Address: &customerv1.Address{Province: "浙江省", City: "杭州市", Street: "文三路 100 号"},
	}
	ev, err := events.New(context.Background(), "customer", "customer", "updated", c.GetCustomerId(), actor, 2, c, changes)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func data[T proto.Message](t *testing.T, ev *eventsv1.Event, m T) T {
	t.Helper()
	if err := ev.GetData().UnmarshalTo(m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestMaskPIIOfAnIndividual(t *testing.T) {
	ev := customerEvent(t, customerv1.CustomerType_CUSTOMER_TYPE_INDIVIDUAL, "王小明",
		change(t, "mobile", "13900001111", "13812345678"),
		change(t, "address.street", nil, "文三路 100 号"),
		change(t, "name", "王明", "王小明"),
		change(t, "address.province", "江苏省", "浙江省"))
	id, typ := ev.GetId(), ev.GetType()
	masked := ev
	if err := analytics.MaskPII(masked); err != nil {
		t.Fatal(err)
	}
	c := data(t, masked, &customerv1.Customer{})
	got := []string{c.GetName(), c.GetContactName(), c.GetMobile(), c.GetLandline(), c.GetEmail(), c.GetAddress().GetStreet(),
		c.GetAddress().GetProvince(), c.GetAddress().GetCity(), c.GetCustomerId(), c.GetOwnerId()}
	want := []string{"王**", "欧***", "138****5678", "*********6666", "n***@example.com", "***",
		"浙江省", "杭州市", "CUST-20261202-0001", "u-sales1"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("masked data\n got %v\nwant %v", got, want)
	}
	var changes []string
	for _, ch := range masked.GetChanges() {
		changes = append(changes, ch.GetField()+": "+ch.GetBefore().GetStringValue()+" → "+ch.GetAfter().GetStringValue())
	}
	wantChanges := []string{"mobile: 139****1111 → 138****5678", "address.street:  → ***", "name: 王* → 王**", "address.province: 江苏省 → 浙江省"}
	if strings.Join(changes, "|") != strings.Join(wantChanges, "|") {
		t.Fatalf("masked changes\n got %v\nwant %v", changes, wantChanges)
	}
	if masked.GetChanges()[1].GetBefore().GetKind() == nil || masked.GetId() != id || masked.GetType() != typ {
		t.Fatalf("envelope or null value lost: %v", masked)
	}
	// The feed may mask an event twice (a failed batch is handed over again): nothing moves.
	once := proto.Clone(masked)
	if err := analytics.MaskPII(masked); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(once, masked) {
		t.Fatalf("masked again:\n%v\n%v", once, masked)
	}
}

func TestMaskPIIKeepsACompanyName(t *testing.T) {
	ev := customerEvent(t, customerv1.CustomerType_CUSTOMER_TYPE_ENTERPRISE, "杭州星辰科技有限公司",
		change(t, "name", "杭州星辰科技", "杭州星辰科技有限公司"))
	masked := ev
	if err := analytics.MaskPII(masked); err != nil {
		t.Fatal(err)
	}
	if c := data(t, masked, &customerv1.Customer{}); c.GetName() != "杭州星辰科技有限公司" || c.GetMobile() != "138****5678" {
		t.Fatalf("company: %v", c)
	}
	if ch := masked.GetChanges()[0]; ch.GetAfter().GetStringValue() != "杭州星辰科技有限公司" {
		t.Fatalf("company name change masked: %v", ch)
	}

	// A customer turned from an individual into a company: its name before may be a person's.
	masked = customerEvent(t, customerv1.CustomerType_CUSTOMER_TYPE_ENTERPRISE, "王小明咨询有限公司",
		change(t, "type", "individual", "enterprise"), change(t, "name", "王小明", "王小明咨询有限公司"))
	if err := analytics.MaskPII(masked); err != nil {
		t.Fatal(err)
	}
	if ch := masked.GetChanges()[1]; ch.GetBefore().GetStringValue() != "王**" {
		t.Fatalf("name before a type change: %v", ch)
	}
}

func TestMaskPIIOfAFollowUp(t *testing.T) {
	f := &followupv1.FollowUp{FollowupId: "F20261202001", CustomerId: "CUST-20261202-0001", ContactName: "陈静", Content: "电话沟通了交付周期"}
	ev, err := events.New(context.Background(), "followup", "followup", "created", f.GetFollowupId(), actor, 1, f,
		[]*commonv1.FieldChange{change(t, "contact_name", nil, "陈静")})
	if err != nil {
		t.Fatal(err)
	}
	masked := ev
	if err := analytics.MaskPII(masked); err != nil {
		t.Fatal(err)
	}
	if got := data(t, masked, &followupv1.FollowUp{}); got.GetContactName() != "陈*" || got.GetContent() != f.GetContent() {
		t.Fatalf("follow-up: %v", got)
	}
	if ch := masked.GetChanges()[0]; ch.GetAfter().GetStringValue() != "陈*" {
		t.Fatalf("change: %v", ch)
	}
}

func TestMaskPIIDropsWhatItCannotRead(t *testing.T) {
	ev := customerEvent(t, customerv1.CustomerType_CUSTOMER_TYPE_INDIVIDUAL, "王小明", change(t, "mobile", nil, "13812345678"))
	ev.Data = &anypb.Any{TypeUrl: "type.googleapis.com/crm.unknown.v1.Thing", Value: []byte{0x0a, 0x01, 'x'}}
	masked := ev
	if err := analytics.MaskPII(masked); err != nil {
		t.Fatal(err)
	}
	if masked.GetData() != nil || masked.GetChanges()[0].GetAfter() != nil || masked.GetChanges()[0].GetField() != "mobile" {
		t.Fatalf("unknown data kept: %v", masked)
	}
}

// TestPersonalFieldsAreDeclared guards the declarations: a field of an API message whose name says
// it holds personal information must say which kind, or the analytics feed would publish it
// unmasked.
func TestPersonalFieldsAreDeclared(t *testing.T) {
	personal := map[protoreflect.Name]bool{"mobile": true, "landline": true, "email": true, "contact_name": true, "street": true,
		"phone": true, "id_number": true}
	var checked int
	protoregistry.GlobalTypes.RangeMessages(func(mt protoreflect.MessageType) bool {
		md := mt.Descriptor()
		if !strings.HasPrefix(string(md.FullName()), "crm.") {
			return true
		}
		fields := md.Fields()
		for i := range fields.Len() {
			fd := fields.Get(i)
			if !personal[fd.Name()] || fd.Kind() != protoreflect.StringKind {
				continue
			}
			checked++
			if !proto.HasExtension(fd.Options(), commonv1.E_Pii) {
				t.Errorf("%s holds personal information but declares no (crm.common.v1.pii) kind", fd.FullName())
			}
		}
		return true
	})
	if checked < 6 {
		t.Fatalf("only %d personal fields found: are the services' protos linked?", checked)
	}
}

// BenchmarkFeedEvent is the analytics feed's work for one customer.created event as the customer
// service writes it (the customer in data, a change per field set): decode, mask, encode.
func BenchmarkFeedEvent(b *testing.B) {
	c := &customerv1.Customer{
		CustomerId: "CUST-20261202-0001", Name: "杭州星辰科技有限公司", Type: customerv1.CustomerType_CUSTOMER_TYPE_ENTERPRISE,
		Industry: "I65", Uscc: "91330106MA2B1C2D3E", ContactName: "王伟", ContactTitle: "总经理", Mobile: "13812345678",
		Landline: "0571-88886666", Email: "wang@example.com", OwnerId: "u-001", TeamId: "t-01", Remarks: "展会名单",
		Address: &customerv1.Address{Province: "浙江省", City: "杭州市", District: "西湖区", Street: "文三路 100 号"},
		Status:  customerv1.CustomerStatus_CUSTOMER_STATUS_POTENTIAL, Scale: customerv1.Scale_SCALE_1_TO_50,
		Source: customerv1.CustomerSource_CUSTOMER_SOURCE_EXHIBITION,
	}
	fields := map[string]any{
		"name": c.GetName(), "type": "enterprise", "industry": c.GetIndustry(), "uscc": c.GetUscc(),
		"contact_name": c.GetContactName(), "contact_title": c.GetContactTitle(), "mobile": c.GetMobile(),
		"landline": c.GetLandline(), "email": c.GetEmail(), "address.province": "浙江省", "address.city": "杭州市",
		"address.district": "西湖区", "address.street": "文三路 100 号", "status": "potential", "owner_id": "u-001",
		"team_id": "t-01", "remarks": "展会名单", "scale": "1-50", "source": "exhibition",
	}
	var changes []*commonv1.FieldChange
	for k, v := range fields {
		ch, err := events.Change(k, nil, v)
		if err != nil {
			b.Fatal(err)
		}
		changes = append(changes, ch)
	}
	ev, err := events.New(context.Background(), "customer", "customer", "created", c.GetCustomerId(), actor, 1, c, changes)
	if err != nil {
		b.Fatal(err)
	}
	wire, err := proto.Marshal(ev)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		ev, err := events.Decode(wire)
		if err != nil {
			b.Fatal(err)
		}
		if err := analytics.MaskPII(ev); err != nil {
			b.Fatal(err)
		}
		if _, err := events.Message(ev); err != nil {
			b.Fatal(err)
		}
	}
}
