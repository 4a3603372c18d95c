// Package analytics publishes the analytics feed: every CRM change event again, on
// analytics.crm.<service>.<entity>.<action> in the stream CRM_ANALYTICS, with personal information
// masked (SPEC §10, PIPL). Analytics subscribers are given that stream only; CRM_EVENTS, whose
// events carry full values for the audit log's before and after, stays with the services
// (docs/adr/0004-masked-analytics-feed.md).
//
// What is personal information is declared in the protos, field by field, with the option
// (crm.common.v1.pii); MaskPII masks by that declaration, so a newly annotated field is masked
// without code here.
package analytics

import (
	"errors"
	"fmt"
	"strings"
	"sync"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/crmsuite/crm/pkg/validate"
	commonv1 "github.com/crmsuite/crm/proto/gen/go/crm/common/v1"
	eventsv1 "github.com/crmsuite/crm/proto/gen/go/crm/events/v1"

	// The event data of every service, so that MaskPII knows their fields.
	_ "github.com/crmsuite/crm/proto/gen/go/crm/customer/v1"
	_ "github.com/crmsuite/crm/proto/gen/go/crm/feedback/v1"
	_ "github.com/crmsuite/crm/proto/gen/go/crm/followup/v1"
	_ "github.com/crmsuite/crm/proto/gen/go/crm/needs/v1"
	_ "github.com/crmsuite/crm/proto/gen/go/crm/tagging/v1"
)

// MaskPII masks ev in place for readers who may not see personal information: in its data every
// string field declared (crm.common.v1.pii) is masked by its kind, and so are the before and after
// values of its changes that name such a field. Data of a type this program does not know is
// dropped, with the values of the changes, so that nothing unmasked gets through. (In place: a
// copy of a decoded event, with its changes, cost the feed a third of its CPU.)
func MaskPII(ev *eventsv1.Event) error {
	if ev.GetData() == nil {
		dropChangeValues(ev)
		return nil
	}
	data, err := ev.GetData().UnmarshalNew()
	if errors.Is(err, protoregistry.NotFound) {
		ev.Data = nil
		dropChangeValues(ev)
		return nil
	}
	if err != nil {
		return fmt.Errorf("analytics: event %s: data: %w", ev.GetId(), err)
	}
	m := data.ProtoReflect()
	individual := planOf(m.Descriptor()).individual(m) || changedFromIndividual(ev.GetChanges())
	maskMessage(m)
	for _, ch := range ev.GetChanges() {
		if kind := fieldKind(m.Descriptor(), ch.GetField()); kind != commonv1.PiiKind_PII_KIND_UNSPECIFIED {
			maskValue(ch.GetBefore(), kind, individual)
			maskValue(ch.GetAfter(), kind, individual)
		}
	}
	if ev.Data, err = anypb.New(data); err != nil {
		return fmt.Errorf("analytics: event %s: data: %w", ev.GetId(), err)
	}
	return nil
}

// maskMessage masks the declared fields of m and of the messages within it, in place.
func maskMessage(m protoreflect.Message) {
	p := planOf(m.Descriptor())
	if len(p.pii) > 0 {
		individual := p.individual(m)
		for _, f := range p.pii {
			if m.Has(f.fd) {
				m.Set(f.fd, protoreflect.ValueOfString(mask(f.kind, m.Get(f.fd).String(), individual)))
			}
		}
	}
	for _, fd := range p.within {
		if !m.Has(fd) {
			continue
		}
		v := m.Get(fd)
		switch {
		case fd.IsMap():
			v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
				maskMessage(mv.Message())
				return true
			})
		case fd.IsList():
			for i := range v.List().Len() {
				maskMessage(v.List().Get(i).Message())
			}
		default:
			maskMessage(v.Message())
		}
	}
}

// plan is what maskMessage does with one message type, worked out once from its descriptor:
// reading the declarations through reflection for every field of every event was most of the
// feed's masking cost.
type plan struct {
	pii    []piiField                     // string fields declared personal, with their kinds
	within []protoreflect.FieldDescriptor // message fields (and maps of messages) that may hold some
	typ    protoreflect.FieldDescriptor   // the enum field `type`, for isIndividual; nil if none
}

type piiField struct {
	fd   protoreflect.FieldDescriptor
	kind commonv1.PiiKind
}

// plans holds a *plan per message's full name.
var plans sync.Map

// planOf returns the plan of a message type.
func planOf(md protoreflect.MessageDescriptor) *plan {
	if p, ok := plans.Load(md.FullName()); ok {
		return p.(*plan)
	}
	p := &plan{}
	fields := md.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		switch {
		case fd.IsMap():
			if v := fd.MapValue(); v.Kind() == protoreflect.MessageKind && mayHold(v.Message(), nil) {
				p.within = append(p.within, fd)
			}
		case fd.Kind() == protoreflect.MessageKind || fd.Kind() == protoreflect.GroupKind:
			if mayHold(fd.Message(), nil) {
				p.within = append(p.within, fd)
			}
		case fd.Kind() == protoreflect.StringKind && !fd.IsList():
			if kind := piiKind(fd); kind != commonv1.PiiKind_PII_KIND_UNSPECIFIED {
				p.pii = append(p.pii, piiField{fd, kind})
			}
		case fd.Kind() == protoreflect.EnumKind && !fd.IsList() && fd.Name() == "type":
			p.typ = fd
		}
	}
	plans.Store(md.FullName(), p)
	return p
}

// mayHold reports whether a message of type md may hold a declared field, in itself or in the
// messages within it. seen holds the types being looked at further up, so that a type that
// contains itself ends the search.
func mayHold(md protoreflect.MessageDescriptor, seen map[protoreflect.FullName]bool) bool {
	if seen[md.FullName()] {
		return false // its other fields are being looked at further up
	}
	if seen == nil {
		seen = map[protoreflect.FullName]bool{}
	}
	seen[md.FullName()] = true
	fields := md.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		switch {
		case fd.IsMap():
			if v := fd.MapValue(); v.Kind() == protoreflect.MessageKind && mayHold(v.Message(), seen) {
				return true
			}
		case fd.Kind() == protoreflect.MessageKind || fd.Kind() == protoreflect.GroupKind:
			if mayHold(fd.Message(), seen) {
				return true
			}
		case fd.Kind() == protoreflect.StringKind && !fd.IsList():
			if piiKind(fd) != commonv1.PiiKind_PII_KIND_UNSPECIFIED {
				return true
			}
		}
	}
	return false
}

// individual reports whether m's `type` names an individual (CUSTOMER_TYPE_INDIVIDUAL): then its
// PII_KIND_CUSTOMER_NAME fields are a person's name.
func (p *plan) individual(m protoreflect.Message) bool {
	if p.typ == nil {
		return false
	}
	v := p.typ.Enum().Values().ByNumber(m.Get(p.typ).Enum())
	return v != nil && strings.HasSuffix(string(v.Name()), "_INDIVIDUAL")
}

// piiKind is the declared kind of personal information of a field.
func piiKind(fd protoreflect.FieldDescriptor) commonv1.PiiKind {
	opts, ok := fd.Options().(*descriptorpb.FieldOptions)
	if !ok || opts == nil {
		return commonv1.PiiKind_PII_KIND_UNSPECIFIED
	}
	return proto.GetExtension(opts, commonv1.E_Pii).(commonv1.PiiKind)
}

// kindKey names a field of a message by the dotted path a change gives.
type kindKey struct {
	msg  protoreflect.FullName
	path string
}

// kinds caches fieldKind's answers (a commonv1.PiiKind per kindKey): there are only so many
// fields, and every event names some.
var kinds sync.Map

// fieldKind is the declared kind of the field a change names, a dotted path of field names from
// the event's data ("mobile", "address.street"); none when the path names no field.
func fieldKind(md protoreflect.MessageDescriptor, path string) commonv1.PiiKind {
	key := kindKey{md.FullName(), path}
	if k, ok := kinds.Load(key); ok {
		return k.(commonv1.PiiKind)
	}
	k := lookUpKind(md, path)
	kinds.Store(key, k)
	return k
}

// lookUpKind is fieldKind without the cache.
func lookUpKind(md protoreflect.MessageDescriptor, path string) commonv1.PiiKind {
	names := strings.Split(path, ".")
	for i, name := range names {
		fd := md.Fields().ByName(protoreflect.Name(name))
		if fd == nil {
			return commonv1.PiiKind_PII_KIND_UNSPECIFIED
		}
		if i == len(names)-1 {
			if fd.Kind() != protoreflect.StringKind {
				return commonv1.PiiKind_PII_KIND_UNSPECIFIED
			}
			return piiKind(fd)
		}
		if md = fd.Message(); md == nil {
			return commonv1.PiiKind_PII_KIND_UNSPECIFIED
		}
	}
	return commonv1.PiiKind_PII_KIND_UNSPECIFIED
}

// changedFromIndividual reports whether the changes move `type` from or to an individual: a name
// changed together with it may be a person's before or after the change.
func changedFromIndividual(changes []*commonv1.FieldChange) bool {
	for _, ch := range changes {
		if ch.GetField() != "type" {
			continue
		}
		for _, v := range []*structpb.Value{ch.GetBefore(), ch.GetAfter()} {
			if strings.HasSuffix(strings.ToUpper(v.GetStringValue()), "INDIVIDUAL") {
				return true
			}
		}
	}
	return false
}

// mask masks s as the given kind of personal information.
func mask(kind commonv1.PiiKind, s string, individual bool) string {
	switch kind {
	case commonv1.PiiKind_PII_KIND_MOBILE:
		return validate.MaskMobile(s)
	case commonv1.PiiKind_PII_KIND_PERSON_NAME:
		return validate.MaskName(s)
	case commonv1.PiiKind_PII_KIND_PHONE:
		return validate.MaskPhone(s)
	case commonv1.PiiKind_PII_KIND_EMAIL:
		return validate.MaskEmail(s)
	case commonv1.PiiKind_PII_KIND_CUSTOMER_NAME:
		if individual {
			return validate.MaskName(s)
		}
		return s
	default: // PII_KIND_STREET, and any kind added later without a masker of its own
		if s == "" {
			return ""
		}
		return "***"
	}
}

// maskValue masks a change's string value in place; null and other values stay.
func maskValue(v *structpb.Value, kind commonv1.PiiKind, individual bool) {
	if s, ok := v.GetKind().(*structpb.Value_StringValue); ok {
		s.StringValue = mask(kind, s.StringValue, individual)
	}
}

// dropChangeValues keeps which fields changed but not their values.
func dropChangeValues(ev *eventsv1.Event) {
	for _, ch := range ev.GetChanges() {
		ch.Before, ch.After = nil, nil
	}
}
