package validate

import (
	"fmt"
	"slices"
	"testing"
)

// sectionOfDivision is GB/T 4754-2017's division ranges per section, written
// out independently of the data table.
func sectionOfDivision(n int) string {
	ranges := []struct {
		section  string
		from, to int
	}{
		{"A", 1, 5}, {"B", 6, 12}, {"C", 13, 43}, {"D", 44, 46}, {"E", 47, 50},
		{"F", 51, 52}, {"G", 53, 60}, {"H", 61, 62}, {"I", 63, 65}, {"J", 66, 69},
		{"K", 70, 70}, {"L", 71, 72}, {"M", 73, 75}, {"N", 76, 79}, {"O", 80, 82},
		{"P", 83, 83}, {"Q", 84, 85}, {"R", 86, 90}, {"S", 91, 96}, {"T", 97, 97},
	}
	for _, r := range ranges {
		if n >= r.from && n <= r.to {
			return r.section
		}
	}
	return ""
}

func TestIndustriesCompleteAndOrdered(t *testing.T) {
	t.Parallel()
	all := Industries()
	if len(all) != 117 {
		t.Fatalf("len(Industries()) = %d, want 117", len(all))
	}
	sections, divisions := 0, map[string]int{}
	codes := make([]string, 0, len(all))
	for _, ind := range all {
		codes = append(codes, ind.Code)
		if ind.NameZH == "" || ind.NameEN == "" {
			t.Errorf("%s: missing name: %+v", ind.Code, ind)
		}
		if !ind.Division {
			sections++
			if len(ind.Code) != 1 || ind.Section != ind.Code || ind.Code < "A" || ind.Code > "T" {
				t.Errorf("bad section entry %+v", ind)
			}
			continue
		}
		divisions[ind.Code[1:]]++
		var n int
		if _, err := fmt.Sscanf(ind.Code[1:], "%02d", &n); err != nil || len(ind.Code) != 3 {
			t.Errorf("bad division code %q", ind.Code)
			continue
		}
		if want := sectionOfDivision(n); ind.Section != want || ind.Code[:1] != want {
			t.Errorf("%s: section %q, want %q", ind.Code, ind.Section, want)
		}
	}
	if sections != 20 {
		t.Errorf("sections = %d, want 20", sections)
	}
	for n := 1; n <= 97; n++ {
		if c := divisions[fmt.Sprintf("%02d", n)]; c != 1 {
			t.Errorf("division %02d appears %d times, want 1", n, c)
		}
	}
	if len(divisions) != 97 {
		t.Errorf("distinct divisions = %d, want 97", len(divisions))
	}
	// Sorted by code puts each section letter right before its divisions.
	if !slices.IsSorted(codes) {
		t.Errorf("Industries() not ordered by code: %v", codes)
	}
	if codes[0] != "A" || codes[1] != "A01" || codes[6] != "B" || codes[len(codes)-2] != "T" || codes[len(codes)-1] != "T97" {
		t.Errorf("unexpected order at the ends: %v … %v", codes[:7], codes[len(codes)-2:])
	}
}

func TestIndustriesReturnsCopy(t *testing.T) {
	t.Parallel()
	a := Industries()
	a[0].NameZH = "changed"
	if b := Industries(); b[0].NameZH != "农、林、牧、渔业" {
		t.Fatalf("Industries() shares its backing array: %q", b[0].NameZH)
	}
	if got, _ := LookupIndustry("A"); got.NameZH != "农、林、牧、渔业" {
		t.Fatalf("LookupIndustry sees caller's change: %q", got.NameZH)
	}
}

func TestIndustryNames(t *testing.T) {
	t.Parallel()
	want := map[string]string{
		"A": "农、林、牧、渔业", "C": "制造业", "D": "电力、热力、燃气及水生产和供应业",
		"I": "信息传输、软件和信息技术服务业", "S": "公共管理、社会保障和社会组织", "T": "国际组织",
		"A01": "农业", "A05": "农、林、牧、渔专业及辅助性活动", "B06": "煤炭开采和洗选业",
		"B11": "开采专业及辅助性活动", "C13": "农副食品加工业", "C25": "石油、煤炭及其他燃料加工业",
		"C37": "铁路、船舶、航空航天和其他运输设备制造业", "C39": "计算机、通信和其他电子设备制造业",
		"C43": "金属制品、机械和设备修理业", "D44": "电力、热力生产和供应业", "E47": "房屋建筑业",
		"E50": "建筑装饰、装修和其他建筑业", "F51": "批发业", "F52": "零售业", "G53": "铁路运输业",
		"G58": "多式联运和运输代理业", "G59": "装卸搬运和仓储业", "G60": "邮政业", "H61": "住宿业",
		"H62": "餐饮业", "I63": "电信、广播电视和卫星传输服务", "I64": "互联网和相关服务",
		"I65": "软件和信息技术服务业", "J66": "货币金融服务", "J69": "其他金融业", "K70": "房地产业",
		"L71": "租赁业", "L72": "商务服务业", "M73": "研究和试验发展", "M74": "专业技术服务业",
		"M75": "科技推广和应用服务业", "N76": "水利管理业", "N77": "生态保护和环境治理业",
		"N78": "公共设施管理业", "N79": "土地管理业", "O80": "居民服务业",
		"O81": "机动车、电子产品和日用产品修理业", "O82": "其他服务业", "P83": "教育", "Q84": "卫生",
		"Q85": "社会工作", "R86": "新闻和出版业", "R87": "广播、电视、电影和录音制作业", "R90": "娱乐业",
		"S91": "中国共产党机关", "S95": "群众团体、社会团体和其他成员组织",
		"S96": "基层群众自治组织及其他组织", "T97": "国际组织",
	}
	for code, name := range want {
		got, ok := LookupIndustry(code)
		if !ok || got.NameZH != name || got.Code != code {
			t.Errorf("LookupIndustry(%q) = %+v, %v; want name %q", code, got, ok, name)
		}
	}
}

func TestLookupIndustry(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"C", "C", true},
		{"c", "C", true},
		{"C39", "C39", true},
		{"c39", "C39", true},
		{" C39 ", "C39", true},
		{"39", "C39", true},
		{"01", "A01", true},
		{"97", "T97", true},
		{"ｃ３９", "C39", true},
		{"i65", "I65", true},
		{"", "", false},
		{"U", "", false},
		{"A39", "", false},
		{"C3", "", false},
		{"3", "", false},
		{"00", "", false},
		{"98", "", false},
		{"C391", "", false},
		{"3900", "", false},
		{"C-39", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, ok := LookupIndustry(tt.in)
			if ok != tt.ok || got.Code != tt.want {
				t.Fatalf("LookupIndustry(%q) = %q, %v; want %q, %v", tt.in, got.Code, ok, tt.want, tt.ok)
			}
			if ok && got.Division != (len(got.Code) == 3) {
				t.Fatalf("LookupIndustry(%q).Division = %v for %q", tt.in, got.Division, got.Code)
			}
		})
	}
}

// BenchmarkLookupIndustry looks up the last code of the list, the longest scan (the create
// validates one code per customer).
func BenchmarkLookupIndustry(b *testing.B) {
	for b.Loop() {
		if _, ok := LookupIndustry("T97"); !ok {
			b.Fatal("T97 not found")
		}
	}
}
