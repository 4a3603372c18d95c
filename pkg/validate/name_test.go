package validate

import "testing"

func TestPlaceholderName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want bool
	}{
		{"某公司", true},
		{"某某公司", true},
		{"某科技公司", true},
		{"某某科技发展有限公司", true},
		{"北京某某有限公司", true},
		{"某", true},
		{"未知", true},
		{"未知公司", true},
		{"待确认", true},
		{"不详", true},
		{"无", true},
		{"暂无", true},
		{"测试", true},
		{"测试客户", true},
		{"测试公司1", true},
		{"test", true},
		{"Test123", true},
		{"TEST Co., Ltd.", true},
		{"xxx", true},
		{"XX公司", true},
		{"xxx科技有限公司", true},
		{"N/A", true},
		{"n.a.", true},
		{"unknown", true},
		{"-", true},
		{"--", true},
		{"……", true},
		{"", true},
		{"   ", true},
		{"123", true},
		{"12-34", true},
		{"１２３", true},
		{"公司", true},
		{"有限公司", true},
		{"客户", true},
		{"aaa", true},
		{"啊啊啊", true},
		{"○○公司", true},
		{" 未知 ", true},

		{"深圳市腾讯计算机系统有限公司", false},
		{"华为技术有限公司", false},
		{"张三", false},
		{"李四光", false},
		{"测试仪器（深圳）有限公司", false},
		{"无锡市小天鹅电器有限公司", false},
		{"XXL服饰有限公司", false},
		{"3M中国有限公司", false},
		{"58同城", false},
		{"Tencent Holdings Ltd.", false},
		{"ABC Trading Co., Ltd.", false},
		{"王", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			if got := PlaceholderName(tt.in); got != tt.want {
				t.Fatalf("PlaceholderName(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestNicknameLike(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want bool
	}{
		{"李总", true},
		{"王经理", true},
		{"张老师", true},
		{"刘老板", true},
		{"陈主任", true},
		{"赵先生", true},
		{"钱女士", true},
		{"孙小姐", true},
		{"周哥", true},
		{"吴姐", true},
		{"郑总经理", true},
		{"王总监", true},
		{"李工", true},
		{"欧阳总", true},
		{"司马经理", true},
		{"王大哥", true},
		{"李大姐", true},
		{"老王", true},
		{"小李", true},
		{" 李 总 ", true},

		{"李明", false},
		{"王小明", false},
		{"张伟", false},
		{"欧阳娜娜", false},
		{"李总明", false},
		{"李", false},
		{"", false},
		{"Mr Li", false},
		{"销售部总经理办公室", false},
		{"张三丰哥", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			if got := NicknameLike(tt.in); got != tt.want {
				t.Fatalf("NicknameLike(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestNormaliseNameEquatesLegalForms(t *testing.T) {
	t.Parallel()
	groups := [][]string{
		{
			"深圳市腾讯计算机系统有限公司",
			"深圳市腾讯计算机系统有限责任公司",
			"深圳市 腾讯计算机系统（有限公司）",
			"深圳市腾讯计算机系统股份有限公司",
			" 深圳市腾讯计算机系统 ",
			"深圳市·腾讯计算机系统有限公司。",
		},
		{"ＡＢＣ科技有限公司", "abc科技有限公司", "ABC 科技", "Ａｂｃ科技（有限公司）"},
		{"Tencent Co., Ltd.", "TENCENT", "Tencent Limited", "Tencent Inc.", "Tencent Co.,Ltd", "tencent corp"},
		{"华为投资控股有限公司", "华为投资控股股份公司"},
		{"某某投资合伙企业（有限合伙）", "某某投资合伙企业"},
		{"北京市金杜律师事务所（特殊普通合伙）", "北京市金杜律师事务所"},
	}
	for _, g := range groups {
		want := NormaliseName(g[0])
		for _, s := range g[1:] {
			if got := NormaliseName(s); got != want {
				t.Errorf("NormaliseName(%q) = %q, want %q (as for %q)", s, got, want, g[0])
			}
		}
	}
}

func TestNormaliseName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string
	}{
		{"深圳市腾讯计算机系统有限公司", "深圳市腾讯计算机系统"},
		{"ＡＢＣ科技有限公司", "abc科技"},
		{"Tencent Co., Ltd.", "tencent"},
		{"Costco", "costco"},
		{"Costco Wholesale Corporation", "costcowholesale"},
		{"腾讯集团有限公司", "腾讯集团"},
		{"海尔集团股份有限公司", "海尔集团"},
		{"招商银行股份有限公司深圳分行", "招商银行股份有限公司深圳分行"},
		{"某某有限公司深圳分公司", "某某有限公司深圳分公司"},
		{"有限公司", "有限公司"},
		{"Co., Ltd.", "co"},
		{"张 三", "张三"},
		{"【测试】 公司", "测试公司"},
		{"a\u200bb", "ab"},
		{"", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			if got := NormaliseName(tt.in); got != tt.want {
				t.Fatalf("NormaliseName(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// BenchmarkCreateNameChecks is what a create does with a customer's name: refuse a placeholder,
// then fold the name for the duplicate check.
func BenchmarkCreateNameChecks(b *testing.B) {
	names := []string{"杭州星辰科技有限公司", "成都天府软件股份有限公司", "Tencent Co., Ltd.", "北京 京东（集团）有限公司"}
	for i := 0; b.Loop(); i++ {
		s := names[i%len(names)]
		if PlaceholderName(s) || NormaliseName(s) == "" {
			b.Fatalf("%q refused", s)
		}
	}
}
