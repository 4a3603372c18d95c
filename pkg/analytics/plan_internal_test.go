package analytics

import (
	"fmt"
	"testing"

	"google.golang.org/protobuf/proto"

	"google.golang.org/protobuf/types/known/structpb"

	customerv1 "github.com/crmsuite/crm/proto/gen/go/crm/customer/v1"
)

// TestPlanOfRecursiveTypes: types that contain themselves (a Value holds Structs and lists of
// Values) are planned without looping, and hold nothing to mask.
func TestPlanOfRecursiveTypes(t *testing.T) {
	for _, m := range []proto.Message{&structpb.Value{}, &structpb.Struct{}, &structpb.ListValue{}} {
		p := planOf(m.ProtoReflect().Descriptor())
		if len(p.pii) != 0 || len(p.within) != 0 {
			t.Errorf("%s: plan %+v, want nothing to mask", m.ProtoReflect().Descriptor().FullName(), p)
		}
	}
}

// TestPlanOfACustomer: the customer's declared fields, and of its messages only the address
// (the timestamps and the consent hold nothing declared).
func TestPlanOfACustomer(t *testing.T) {
	p := planOf((&customerv1.Customer{}).ProtoReflect().Descriptor())
	var pii, within []string
	for _, f := range p.pii {
		pii = append(pii, string(f.fd.Name()))
	}
	for _, fd := range p.within {
		within = append(within, string(fd.Name()))
	}
	if got, want := fmt.Sprint(pii), "[name contact_name mobile landline email]"; got != want {
		t.Errorf("declared fields %s, want %s", got, want)
	}
	if got, want := fmt.Sprint(within), "[address]"; got != want {
		t.Errorf("messages looked into %s, want %s", got, want)
	}
	if p.typ == nil || p.typ.Name() != "type" {
		t.Errorf("type field %v", p.typ)
	}
}
