package server

import (
	"context"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"

	"github.com/crmsuite/crm/pkg/export"
	customerv1 "github.com/crmsuite/crm/proto/gen/go/crm/customer/v1"
	needsv1 "github.com/crmsuite/crm/proto/gen/go/crm/needs/v1"
	"github.com/crmsuite/crm/services/needs/internal/need"
)

// exportSpec is the file of ExportNeeds: one row per need, with its customer's name. Amounts are
// in yuan and written as numbers in XLSX, so that a spreadsheet can sum them.
var exportSpec = export.Spec{
	Source: "needs", Entity: "need_export",
	FileZH: "需求商机导出", FileEN: "needs", SheetZH: "需求商机", SheetEN: "Needs",
	Columns: []export.Column{
		{ZH: "需求编号", EN: "Need ID"}, {ZH: "客户编号", EN: "Customer ID"}, {ZH: "客户名称", EN: "Customer name"},
		{ZH: "需求标题", EN: "Title"}, {ZH: "需求类型", EN: "Type"}, {ZH: "需求描述", EN: "Description"},
		{ZH: "预算下限(元)", EN: "Budget min (CNY)"}, {ZH: "预算上限(元)", EN: "Budget max (CNY)"},
		{ZH: "预计成交金额(元)", EN: "Expected amount (CNY)"}, {ZH: "期望交付日期", EN: "Expected delivery"},
		{ZH: "预计成交日期", EN: "Expected close"}, {ZH: "阶段", EN: "Stage"}, {ZH: "成交概率(%)", EN: "Probability (%)"},
		{ZH: "流失原因", EN: "Lost reason"}, {ZH: "负责部门", EN: "Department"}, {ZH: "负责人", EN: "Owner"},
		{ZH: "所属团队", EN: "Team"}, {ZH: "竞争对手", EN: "Competitors"}, {ZH: "阶段变更时间", EN: "Stage changed at"},
		{ZH: "创建时间", EN: "Created at"}, {ZH: "创建人", EN: "Created by"}, {ZH: "最后更新时间", EN: "Updated at"},
	},
	Numeric: []int{6, 7, 8, 12},
}

var typeLabels = map[need.Type][2]string{
	need.TypeProductInquiry: {"产品咨询", "Product inquiry"}, need.TypeCustomService: {"服务定制", "Custom service"},
	need.TypePartnership: {"合作洽谈", "Partnership"}, need.TypeProcurement: {"采购", "Procurement"}, need.TypeOther: {"其他", "Other"},
}

// cst is the zone export times are written in (China Standard Time).
var cst = time.FixedZone("CST", 8*3600)

func exportTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(cst).Format(time.DateTime)
}

func exportDate(d *need.Date) string {
	if d == nil {
		return ""
	}
	return d.String()
}

func exportYuan(fen *int64) string {
	if fen == nil {
		return ""
	}
	return need.FormatYuan(*fen)
}

// ExportNeeds streams the needs of the customers a customer filter selects as a CSV or XLSX file
// (pkg/export). Needs hold no personal information, so masking changes only customer names.
func (s *Server) ExportNeeds(req *needsv1.ExportNeedsRequest, stream grpc.ServerStreamingServer[customerv1.FileChunk]) error {
	ctx := stream.Context()
	_, reach := caller(ctx)
	row := make([]string, len(exportSpec.Columns))
	rows := func(ctx context.Context, page export.Page, write func([]string) error) error {
		return s.store.Export(ctx, page.IDs, reach, func(n *need.Need) error {
			typ, stage := typeLabels[n.Type][0], n.Stage.Name().ZH
			if page.English {
				typ, stage = typeLabels[n.Type][1], n.Stage.Name().EN
			}
			row = append(row[:0], n.ID, n.CustomerID, page.Names[n.CustomerID], n.Title, typ, n.Description,
				exportYuan(n.BudgetMinFen), exportYuan(n.BudgetMaxFen), exportYuan(n.AmountFen), exportDate(n.DeliveryDate),
				exportDate(n.CloseDate), stage, strconv.FormatInt(n.Stage.Probability(), 10), n.LostReason, n.Department,
				n.OwnerID, n.TeamID, strings.Join(n.Competitors, "、"), exportTime(n.StageChangedAt), exportTime(n.CreatedAt),
				n.CreatedBy, exportTime(n.UpdatedAt))
			return write(row)
		})
	}
	in := export.Request{Format: req.GetFormat(), CustomerFilter: req.GetCustomerFilter(), RevealPII: req.GetRevealPii()}
	return s.exporter.Stream(ctx, exportSpec, in, rows, stream.Send)
}
