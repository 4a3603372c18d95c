package seed

import (
	"fmt"
	"strings"
	"time"

	"github.com/crmsuite/crm/pkg/validate"
)

// The data set is a function of the row number: row i of every table is computed from i alone
// (through mix), never from a random stream, so the load scenarios can pick existing ids, names
// and owners by drawing a number, and pgbench scripts can compute the same ids in SQL.

// Shape of the organisation that owns the customers: Reps sales reps (u-s0001 …) in Teams teams
// (t01 …) of RepsPerTeam each.
const (
	Teams       = 25
	RepsPerTeam = 20
	Reps        = Teams * RepsPerTeam
)

// History is how many days of customers the data set spans; it ends the day before Start's seed
// day, so creates during a run (today's ids) never collide with seeded ids.
const History = 1095

// mix is splitmix64 of x and a salt: a cheap, well-spread hash that stands in for a random draw.
func mix(x uint64, salt uint64) uint64 {
	z := x*0x9e3779b97f4a7c15 + salt*0xbf58476d1ce4e5b9 + 0x94d049bb133111eb
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// pick returns an index into a list of n by weight-free uniform choice.
func pick(i int, salt uint64, n int) int { return int(mix(uint64(i), salt) % uint64(n)) }

// Layout fixes where the ids of a data set start: the first day and how many rows each day holds.
type Layout struct {
	Customers int
	FirstDay  time.Time // midnight UTC of the first day of customer ids
	PerDay    int       // customers per day
}

// NewLayout spreads n customers over History days ending the day before today (in China).
func NewLayout(n int, today time.Time) Layout {
	t := today.In(china)
	last := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC).AddDate(0, 0, -1)
	perDay := (n + History - 1) / History
	return Layout{Customers: n, FirstDay: last.AddDate(0, 0, -(History - 1)), PerDay: perDay}
}

var china = time.FixedZone("CST", 8*3600)

// CustomerID is the id of customer i: CUST-<day>-<serial>, serials from 1 each day.
func (l Layout) CustomerID(i int) string {
	day := l.FirstDay.AddDate(0, 0, i/l.PerDay)
	return fmt.Sprintf("CUST-%s-%04d", day.Format("20060102"), i%l.PerDay+1)
}

// Deleted reports whether customer i is soft-deleted (1 in 100).
func Deleted(i int) bool { return i%100 == 37 }

// Owner returns the sales rep and team of customer i.
func Owner(i int) (owner, team string) {
	r := pick(i, 1, Reps)
	return RepID(r), TeamID(r / RepsPerTeam)
}

// RepID is the user id of sales rep r (0-based).
func RepID(r int) string { return fmt.Sprintf("u-s%04d", r+1) }

// TeamID is the id of team t (0-based).
func TeamID(t int) string { return fmt.Sprintf("t%02d", t+1) }

// province is a provincial-level division with its share of customers (per mille) and cities.
type province struct {
	short  string
	weight int
	cities []string
}

// provinces roughly follows where Chinese companies are registered.
var provinces = []province{
	{"广东", 120, []string{"广州市", "深圳市", "东莞市", "佛山市", "珠海市"}},
	{"江苏", 90, []string{"南京市", "苏州市", "无锡市", "常州市"}},
	{"浙江", 90, []string{"杭州市", "宁波市", "温州市", "嘉兴市"}},
	{"上海", 70, []string{"上海市"}},
	{"山东", 70, []string{"济南市", "青岛市", "烟台市", "潍坊市"}},
	{"北京", 60, []string{"北京市"}},
	{"河南", 50, []string{"郑州市", "洛阳市"}},
	{"四川", 50, []string{"成都市", "绵阳市"}},
	{"湖北", 40, []string{"武汉市", "宜昌市"}},
	{"福建", 40, []string{"福州市", "厦门市", "泉州市"}},
	{"湖南", 30, []string{"长沙市", "株洲市"}},
	{"安徽", 30, []string{"合肥市", "芜湖市"}},
	{"河北", 30, []string{"石家庄市", "保定市", "唐山市"}},
	{"天津", 20, []string{"天津市"}},
	{"重庆", 20, []string{"重庆市"}},
	{"陕西", 20, []string{"西安市"}},
	{"辽宁", 20, []string{"沈阳市", "大连市"}},
	{"江西", 15, []string{"南昌市"}},
	{"云南", 12, []string{"昆明市"}},
	{"广西", 12, []string{"南宁市", "柳州市"}},
	{"山西", 10, []string{"太原市"}},
	{"黑龙江", 10, []string{"哈尔滨市"}},
	{"吉林", 8, []string{"长春市"}},
	{"贵州", 8, []string{"贵阳市"}},
	{"内蒙古", 6, []string{"呼和浩特市"}},
	{"新疆", 6, []string{"乌鲁木齐市"}},
	{"甘肃", 5, []string{"兰州市"}},
	{"海南", 5, []string{"海口市"}},
	{"宁夏", 3, []string{"银川市"}},
	{"青海", 2, []string{"西宁市"}},
	{"西藏", 1, []string{"拉萨市"}},
}

// provinceTable is provinces expanded by weight (1000 entries), with canonical names.
type provinceEntry struct {
	name   string // canonical full name, as the customer service stores it
	cities []string
}

var provinceTable, provinceNames = buildProvinces()

func buildProvinces() ([]provinceEntry, []string) {
	var out []provinceEntry
	var names []string
	for _, p := range provinces {
		name, ok := validate.Province(p.short)
		if !ok {
			name = p.short // cannot happen for the names above; Validate would report it
		}
		names = append(names, name)
		for range p.weight {
			out = append(out, provinceEntry{name: name, cities: p.cities})
		}
	}
	return out, names
}

// TopProvinces returns the canonical names of the n provinces with the most customers.
func TopProvinces(n int) []string { return provinceNames[:min(n, len(provinceNames))] }

// Names: enough parts that company names rarely repeat, all real words.
var (
	surnames = []rune("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤")
	given    = []rune("伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华建国志红玉兰海燕玲文博宇浩然子轩欣怡梓涵晨阳思远佳琪雨婷嘉豪俊杰")
	brandA   = []rune("华中新东宏恒盛泰金鑫瑞祥丰安嘉信达利永兴隆昌富源通宇天海蓝星辰云峰锦德正诚远方卓越鼎立汇博睿智")
	brandB   = []rune("创科联达拓源捷力讯辉迈翔泽航宸禾颐晟弘骏铭璟欣然耀腾跃澜")
	trades   = []string{"科技", "信息技术", "软件", "电子", "网络科技", "智能装备", "机械", "新材料", "生物科技", "医药",
		"贸易", "商贸", "物流", "供应链", "建设工程", "建材", "装饰工程", "环保科技", "能源", "新能源",
		"食品", "餐饮管理", "服装", "纺织", "家居", "文化传媒", "广告", "教育科技", "咨询", "电气"}
	legalForms   = []string{"有限公司", "有限公司", "有限公司", "股份有限公司", "有限责任公司", "集团有限公司"}
	institutions = []string{"第一人民医院", "中心医院", "职业技术学院", "实验中学", "研究院", "设计院", "质量检测中心"}
	titles       = []string{"总经理", "采购经理", "采购主管", "技术总监", "财务经理", "行政主管", "董事长", "项目经理", "副总经理", ""}
	roads        = []string{"人民", "解放", "中山", "建设", "和平", "新华", "长江", "黄河", "科技", "创业", "文化", "迎宾"}
	districts    = []string{"高新区", "经开区", "中心区", "新区", "城南区", "城北区", ""}
	// mobilePrefixes are real carrier prefixes; 196 is left out: the load scenarios create
	// customers with 196 numbers, which therefore never collide with seeded ones.
	mobilePrefixes = []string{"130", "131", "132", "133", "134", "135", "136", "137", "138", "139", "150", "151",
		"152", "153", "155", "156", "157", "158", "159", "166", "176", "177", "178", "180", "181", "182", "183",
		"184", "185", "186", "187", "188", "189", "198", "199"}
	areaCodes = []string{"010", "021", "020", "0755", "0571", "025", "027", "028", "0512", "0532"}
)

var divisions = func() []string {
	var out []string
	for _, ind := range validate.Industries() {
		if ind.Division {
			out = append(out, ind.Code)
		}
	}
	return out
}()

// PersonName returns a two- or three-character Chinese name.
func PersonName(i int, salt uint64) string {
	var b strings.Builder
	b.WriteRune(surnames[pick(i, salt, len(surnames))])
	b.WriteRune(given[pick(i, salt+1, len(given))])
	if mix(uint64(i), salt+2)%3 != 0 {
		b.WriteRune(given[pick(i, salt+3, len(given))])
	}
	return b.String()
}

// Brand is the two-character trade name of customer i (星辰, 华创 …).
func Brand(i int) string {
	return string([]rune{brandA[pick(i, 10, len(brandA))], brandB[pick(i, 11, len(brandB))]})
}

// Trade is the line of business in customer i's name (科技, 贸易 …).
func Trade(i int) string { return trades[pick(i, 12, len(trades))] }

// Mobile returns customer i's mobile number; distinct for every i below 10^8.
func Mobile(i int) string {
	return mobilePrefixes[pick(i, 20, len(mobilePrefixes))] + fmt.Sprintf("%08d", (uint64(i)*7919)%100_000_000)
}

// Customer is one row of customer.customers as the seeder writes it.
type Customer struct {
	ID, Name, NameKey, Type, Industry, USCC, ContactName, ContactTitle, Mobile, Landline, Email string
	Province, City, District, Street, Scale, Status, Source                                     string
	FirstContact                                                                                *time.Time
	OwnerID, TeamID                                                                             string
	AmountFen                                                                                   *int64
	Remarks                                                                                     string
	CreatedAt, UpdatedAt                                                                        time.Time
	DeletedAt                                                                                   *time.Time
	Version                                                                                     int64
}

var (
	typeCut = []struct {
		upTo int
		t    string
	}{{70, "enterprise"}, {85, "individual"}, {90, "institution"}, {95, "partner"}, {98, "channel"}, {100, "other"}}
	statusCut = []struct {
		upTo int
		s    string
	}{{40, "potential"}, {62, "intention"}, {85, "active"}, {89, "paused"}, {95, "dormant"}, {100, "lost"}}
	orgScales = []string{"1-50", "1-50", "51-200", "51-200", "201-500", "501-1000", "1000+"}
	sources   = []string{"online", "exhibition", "referral", "visit", "partner", "inbound", "other", ""}
)

// Address is customer i's address, as CustomerRow gives it, without the rest of the row (the
// benchmark's creates take it for every new customer).
func Address(i int) (province, city, district, street string) {
	pt := provinceTable[pick(i, 2, len(provinceTable))]
	return pt.name, pt.cities[pick(i, 3, len(pt.cities))], districts[pick(i, 4, len(districts))],
		fmt.Sprintf("%s路%d号", roads[pick(i, 5, len(roads))], 1+pick(i, 6, 999))
}

// CustomerRow computes customer i of layout l.
func (l Layout) CustomerRow(i int) Customer {
	c := Customer{ID: l.CustomerID(i)}
	c.Province, c.City, c.District, c.Street = Address(i)
	city := strings.TrimSuffix(c.City, "市")

	roll := pick(i, 7, 100)
	for _, t := range typeCut {
		if roll < t.upTo {
			c.Type = t.t
			break
		}
	}
	switch c.Type {
	case "individual":
		c.Name = PersonName(i, 30)
		c.ContactName = c.Name
		c.Scale = []string{"individual_standard", "individual_premium"}[pick(i, 8, 2)]
	case "institution":
		c.Name = city + "市" + Brand(i) + institutions[pick(i, 13, len(institutions))]
		c.ContactName = PersonName(i, 40)
		c.Scale = orgScales[pick(i, 8, len(orgScales))]
	default:
		c.Name = city + Brand(i) + Trade(i) + legalForms[pick(i, 14, len(legalForms))]
		c.ContactName = PersonName(i, 40)
		c.Scale = orgScales[pick(i, 8, len(orgScales))]
	}
	c.NameKey = validate.NormaliseName(c.Name)
	if c.Type == "enterprise" || mix(uint64(i), 15)%3 == 0 {
		c.Industry = divisions[pick(i, 16, len(divisions))]
	}
	if c.Type == "enterprise" && mix(uint64(i), 17)%10 < 4 {
		body := fmt.Sprintf("91%06d%09d", 110000+pick(i, 18, 540000), i)
		check, _ := validate.USCCCheckChar(body)
		c.USCC = body + string(check)
	}
	c.ContactTitle = titles[pick(i, 19, len(titles))]
	c.Mobile = Mobile(i)
	if mix(uint64(i), 21)%10 < 3 {
		c.Landline = fmt.Sprintf("%s-%d", areaCodes[pick(i, 22, len(areaCodes))], 20000000+pick(i, 23, 79999999))
	}
	if mix(uint64(i), 24)%10 < 3 {
		c.Email = fmt.Sprintf("contact%d@corp%d.cn", i, pick(i, 25, 5000))
	}

	roll = pick(i, 26, 100)
	for _, s := range statusCut {
		if roll < s.upTo {
			c.Status = s.s
			break
		}
	}
	c.Source = sources[pick(i, 27, len(sources))]
	c.OwnerID, c.TeamID = Owner(i)
	if c.Status == "intention" || c.Status == "active" {
		v := int64(1+pick(i, 28, 5000)) * 1_000_000 // 10,000 – 50,000,000 yuan
		c.AmountFen = &v
	}
	day := l.FirstDay.AddDate(0, 0, i/l.PerDay)
	c.CreatedAt = day.Add(time.Duration(i%l.PerDay) * (24 * time.Hour / time.Duration(l.PerDay))).
		Add(time.Duration(pick(i, 29, 60_000)) * time.Millisecond).Add(-8 * time.Hour)
	if mix(uint64(i), 31)%2 == 0 {
		fc := day.AddDate(0, 0, -pick(i, 32, 60))
		c.FirstContact = &fc
	}
	c.Version = 1 + int64(pick(i, 33, 3))
	c.UpdatedAt = c.CreatedAt.Add(time.Duration(pick(i, 34, 30*24)) * time.Hour)
	if Deleted(i) {
		d := c.UpdatedAt
		c.DeletedAt = &d
	}
	return c
}

// Need is one seeded row of needs.needs.
type Need struct {
	ID, CustomerID, Title, Type, Stage, LostReason, OwnerID string
	AmountFen                                               *int64
	CloseDate                                               *time.Time
	CreatedAt                                               time.Time
}

var (
	needTypes  = []string{"product_inquiry", "custom_service", "partnership", "procurement", "other"}
	needStages = []string{"initial", "initial", "confirmed", "confirmed", "proposal", "quotation", "negotiation", "won", "lost"}
	needTitles = []string{"私有云扩容", "年度采购框架协议", "设备更新换代", "系统集成项目", "运维服务外包", "培训服务", "定制开发", "渠道合作"}
)

// NeedDays is how many days of needs and follow-ups the data set spans (ending with the last
// customer day).
const NeedDays = 365

// NeedRow computes need j of n: a live customer, its owner, a stage along the pipeline.
func (l Layout) NeedRow(j, n int) Need {
	i := l.liveCustomer(j, 40)
	owner, _ := Owner(i)
	perDay := (n + NeedDays - 1) / NeedDays
	day := l.FirstDay.AddDate(0, 0, History-NeedDays+j/perDay)
	x := Need{
		ID:         fmt.Sprintf("D%s%03d", day.Format("20060102"), j%perDay+1),
		CustomerID: l.CustomerID(i),
		Title:      needTitles[pick(j, 41, len(needTitles))],
		Type:       needTypes[pick(j, 42, len(needTypes))],
		Stage:      needStages[pick(j, 43, len(needStages))],
		OwnerID:    owner,
		CreatedAt:  day.Add(time.Duration(j%perDay) * (24 * time.Hour / time.Duration(perDay))).Add(-8 * time.Hour),
	}
	if x.Stage == "lost" {
		x.LostReason = "预算取消"
	}
	if mix(uint64(j), 44)%5 != 0 {
		v := int64(1+pick(j, 45, 2000)) * 5_000_000
		x.AmountFen = &v
	}
	if mix(uint64(j), 46)%3 != 0 {
		d := day.AddDate(0, 0, 30+pick(j, 47, 180))
		x.CloseDate = &d
	}
	return x
}

// FollowUp is one seeded row of followup.followups.
type FollowUp struct {
	ID, CustomerID, ContactName, Method, Kind, Content, NextAction, OwnerID string
	NextDue                                                                 *time.Time
	Done                                                                    bool
	ContactTime                                                             time.Time
}

var (
	methods  = []string{"phone", "phone", "wechat", "email", "visit", "meeting", "other"}
	kinds    = []string{"initial", "need_followup", "need_followup", "contract", "after_sales", "other"}
	contents = []string{"电话沟通了解采购计划，客户预计下季度启动", "上门拜访，演示了新版本功能", "微信确认报价细节",
		"客户反馈交付进度，需要协调技术支持", "发送合同草案，等待法务审核", "回访使用情况，客户满意"}
	actions = []string{"发送方案", "安排演示", "跟进报价", "签订合同", "回访"}
)

// FollowUpRow computes follow-up j of n.
func (l Layout) FollowUpRow(j, n int) FollowUp {
	i := l.liveCustomer(j, 50)
	owner, _ := Owner(i)
	perDay := (n + NeedDays - 1) / NeedDays
	day := l.FirstDay.AddDate(0, 0, History-NeedDays+j/perDay)
	f := FollowUp{
		ID:          fmt.Sprintf("F%s%03d", day.Format("20060102"), j%perDay+1),
		CustomerID:  l.CustomerID(i),
		ContactName: PersonName(i, 40),
		Method:      methods[pick(j, 51, len(methods))],
		Kind:        kinds[pick(j, 52, len(kinds))],
		Content:     contents[pick(j, 53, len(contents))],
		OwnerID:     owner,
		ContactTime: day.Add(time.Duration(j%perDay) * (24 * time.Hour / time.Duration(perDay))).Add(-8 * time.Hour),
	}
	if mix(uint64(j), 54)%10 < 3 {
		f.NextAction = actions[pick(j, 55, len(actions))]
		d := day.AddDate(0, 0, 3+pick(j, 56, 30))
		f.NextDue = &d
		f.Done = mix(uint64(j), 57)%2 == 0
	}
	return f
}

// liveCustomer picks a customer that is not deleted for row j.
func (l Layout) liveCustomer(j int, salt uint64) int {
	i := pick(j, salt, l.Customers)
	if Deleted(i) {
		i = (i + 1) % l.Customers
	}
	return i
}

// LiveCustomer returns a customer number that is not deleted, drawn from r.
func (l Layout) LiveCustomer(r uint64) int {
	i := int(r % uint64(l.Customers))
	if Deleted(i) {
		i = (i + 1) % l.Customers
	}
	return i
}
