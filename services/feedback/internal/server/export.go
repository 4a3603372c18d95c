package server

import (
	"context"
	"strconv"
	"time"

	"google.golang.org/grpc"

	"github.com/crmsuite/crm/pkg/export"
	customerv1 "github.com/crmsuite/crm/proto/gen/go/crm/customer/v1"
	feedbackv1 "github.com/crmsuite/crm/proto/gen/go/crm/feedback/v1"
	"github.com/crmsuite/crm/services/feedback/internal/feedback"
)

// exportSpec is the file of ExportFeedback: one row per feedback, with its customer's name and,
// for complaints, the response deadline and whether it was kept as of the export.
var exportSpec = export.Spec{
	Source: "feedback", Entity: "feedback_export",
	FileZH: "客户反馈导出", FileEN: "feedback", SheetZH: "客户反馈", SheetEN: "Feedback",
	Columns: []export.Column{
		{ZH: "反馈编号", EN: "Feedback ID"}, {ZH: "客户编号", EN: "Customer ID"}, {ZH: "客户名称", EN: "Customer name"},
		{ZH: "反馈类型", EN: "Type"}, {ZH: "反馈渠道", EN: "Channel"}, {ZH: "反馈内容", EN: "Content"},
		{ZH: "处理状态", EN: "Status"}, {ZH: "处理人", EN: "Handler"}, {ZH: "处理方案", EN: "Plan"}, {ZH: "处理结果", EN: "Result"},
		{ZH: "满意度", EN: "Satisfaction"}, {ZH: "响应时限", EN: "Response deadline"}, {ZH: "时限状态", EN: "Deadline status"},
		{ZH: "首次响应时间", EN: "First response at"}, {ZH: "完成时间", EN: "Resolved at"}, {ZH: "关闭时间", EN: "Closed at"},
		{ZH: "客户负责人", EN: "Customer owner"}, {ZH: "所属团队", EN: "Team"},
		{ZH: "创建时间", EN: "Created at"}, {ZH: "创建人", EN: "Created by"}, {ZH: "最后更新时间", EN: "Updated at"},
	},
	Numeric: []int{10},
}

var (
	typeLabels = map[feedback.Type][2]string{
		feedback.TypeComplaint: {"投诉", "Complaint"}, feedback.TypeSuggestion: {"建议", "Suggestion"},
		feedback.TypePraise: {"表扬", "Praise"}, feedback.TypeInquiry: {"咨询", "Inquiry"},
	}
	channelLabels = map[feedback.Channel][2]string{
		feedback.ChannelPhone: {"电话", "Phone"}, feedback.ChannelEmail: {"邮件", "E-mail"}, feedback.ChannelSurvey: {"问卷", "Survey"},
		feedback.ChannelOnlineService: {"在线客服", "Online service"}, feedback.ChannelVisit: {"拜访", "Visit"},
	}
	statusLabels = map[feedback.Status][2]string{
		feedback.StatusPending: {"待处理", "Pending"}, feedback.StatusInProgress: {"处理中", "In progress"},
		feedback.StatusResolved: {"已完成", "Resolved"}, feedback.StatusClosed: {"已关闭", "Closed"},
	}
	slaLabels = map[feedback.SLAState][2]string{
		feedback.SLAOnTrack: {"未超时", "On track"}, feedback.SLAMet: {"按时响应", "Met"},
		feedback.SLAOverdue: {"已超时", "Overdue"}, feedback.SLABreached: {"超时后响应", "Breached"},
	}
)

// cst is the zone export times are written in (China Standard Time).
var cst = time.FixedZone("CST", 8*3600)

func exportTime(t *time.Time) string {
	if t == nil || t.IsZero() {
		return ""
	}
	return t.In(cst).Format(time.DateTime)
}

// ExportFeedback streams the feedback and complaints of the customers a customer filter selects as
// a CSV or XLSX file (pkg/export).
func (s *Server) ExportFeedback(req *feedbackv1.ExportFeedbackRequest, stream grpc.ServerStreamingServer[customerv1.FileChunk]) error {
	ctx := stream.Context()
	_, _, reach := caller(ctx)
	now := s.store.Now()
	lang := 0
	if export.English(ctx) {
		lang = 1
	}
	row := make([]string, len(exportSpec.Columns))
	rows := func(ctx context.Context, page export.Page, write func([]string) error) error {
		return s.store.Export(ctx, page.IDs, reach, func(f *feedback.Feedback) error {
			satisfaction := ""
			if f.Satisfaction > 0 {
				satisfaction = strconv.Itoa(f.Satisfaction)
			}
			row = append(row[:0], f.ID, f.CustomerID, page.Names[f.CustomerID], typeLabels[f.Type][lang],
				channelLabels[f.Channel][lang], f.Content, statusLabels[f.Status][lang], f.HandlerID, f.Plan, f.Result,
				satisfaction, exportTime(f.ResponseDeadline), slaLabels[f.SLA(now)][lang], exportTime(f.FirstResponseAt),
				exportTime(f.ResolvedAt), exportTime(f.ClosedAt), f.OwnerID, f.TeamID, exportTime(&f.CreatedAt), f.CreatedBy,
				exportTime(&f.UpdatedAt))
			return write(row)
		})
	}
	in := export.Request{Format: req.GetFormat(), CustomerFilter: req.GetCustomerFilter(), RevealPII: req.GetRevealPii()}
	return s.exporter.Stream(ctx, exportSpec, in, rows, stream.Send)
}
