package server

import (
	"context"
	"time"

	"google.golang.org/grpc"

	"github.com/crmsuite/crm/pkg/export"
	"github.com/crmsuite/crm/pkg/validate"
	customerv1 "github.com/crmsuite/crm/proto/gen/go/crm/customer/v1"
	followupv1 "github.com/crmsuite/crm/proto/gen/go/crm/followup/v1"
	"github.com/crmsuite/crm/services/followup/internal/followup"
)

// exportSpec is the file of ExportFollowUps: one row per record, with its customer's name.
var exportSpec = export.Spec{
	Source: "followup", Entity: "followup_export",
	FileZH: "跟进记录导出", FileEN: "followups", SheetZH: "跟进记录", SheetEN: "Follow-ups",
	Columns: []export.Column{
		{ZH: "跟进编号", EN: "Follow-up ID"}, {ZH: "客户编号", EN: "Customer ID"}, {ZH: "客户名称", EN: "Customer name"},
		{ZH: "联系人", EN: "Contact"}, {ZH: "联系方式", EN: "Method"}, {ZH: "联系时间", EN: "Contact time"},
		{ZH: "跟进类型", EN: "Kind"}, {ZH: "跟进内容", EN: "Content"}, {ZH: "后续行动", EN: "Next action"},
		{ZH: "行动截止日期", EN: "Next action due"}, {ZH: "已完成", EN: "Done"}, {ZH: "完成时间", EN: "Done at"},
		{ZH: "竞品信息", EN: "Competitor notes"}, {ZH: "负责人", EN: "Owner"}, {ZH: "所属团队", EN: "Team"},
		{ZH: "创建时间", EN: "Created at"}, {ZH: "创建人", EN: "Created by"}, {ZH: "最后更新时间", EN: "Updated at"},
	},
}

var (
	methodLabels = map[followup.Method][2]string{
		followup.MethodPhone: {"电话", "Phone"}, followup.MethodEmail: {"邮件", "E-mail"}, followup.MethodVisit: {"拜访", "Visit"},
		followup.MethodWeChat: {"微信", "WeChat"}, followup.MethodMeeting: {"会议", "Meeting"}, followup.MethodOther: {"其他", "Other"},
	}
	kindLabels = map[followup.Kind][2]string{
		followup.KindInitial: {"初次沟通", "Initial contact"}, followup.KindNeedFollowUp: {"需求跟进", "Need follow-up"},
		followup.KindContract: {"合同签订", "Contract"}, followup.KindAfterSales: {"售后回访", "After-sales visit"},
		followup.KindOther: {"其他", "Other"},
	}
)

// label picks the Chinese or English label.
func label(l [2]string, english bool) string {
	if english {
		return l[1]
	}
	return l[0]
}

// cst is the zone export times are written in (China Standard Time).
var cst = time.FixedZone("CST", 8*3600)

func exportTime(t *time.Time) string {
	if t == nil || t.IsZero() {
		return ""
	}
	return t.In(cst).Format(time.DateTime)
}

// ExportFollowUps streams the follow-up records of the customers a customer filter selects as a
// CSV or XLSX file (pkg/export).
func (s *Server) ExportFollowUps(req *followupv1.ExportFollowUpsRequest, stream grpc.ServerStreamingServer[customerv1.FileChunk]) error {
	ctx := stream.Context()
	_, _, reach := caller(ctx)
	english := export.English(ctx)
	yes, no := "是", "否"
	if english {
		yes, no = "yes", "no"
	}
	row := make([]string, len(exportSpec.Columns))
	rows := func(ctx context.Context, page export.Page, write func([]string) error) error {
		return s.store.Export(ctx, page.IDs, reach, func(f *followup.FollowUp) error {
			contact := f.ContactName
			if page.Mask {
				contact = validate.MaskName(contact)
			}
			due := ""
			if f.NextActionDue != nil {
				due = f.NextActionDue.String()
			}
			done := no
			if f.Done {
				done = yes
			}
			row = append(row[:0], f.ID, f.CustomerID, page.Names[f.CustomerID], contact, label(methodLabels[f.Method], english),
				exportTime(&f.ContactTime), label(kindLabels[f.Kind], english), f.Content, f.NextAction, due, done,
				exportTime(f.DoneAt), f.CompetitorNotes, f.OwnerID, f.TeamID, exportTime(&f.CreatedAt), f.CreatedBy,
				exportTime(&f.UpdatedAt))
			return write(row)
		})
	}
	in := export.Request{Format: req.GetFormat(), CustomerFilter: req.GetCustomerFilter(), RevealPII: req.GetRevealPii()}
	return s.exporter.Stream(ctx, exportSpec, in, rows, stream.Send)
}
