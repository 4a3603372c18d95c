package validate

import (
	"strings"
	"unicode/utf8"

	"golang.org/x/text/width"
)

// Industry is one code of GB/T 4754-2017 (国民经济行业分类): a section
// (门类) letter A–T, or a 2-digit division (大类) written with its section
// letter, e.g. "C39". Section is the letter in both cases.
type Industry struct {
	Code     string
	Section  string
	NameZH   string
	NameEN   string
	Division bool
}

// LookupIndustry finds a section or division code. It accepts "C", "C39",
// "c39", full-width forms and a bare division number "39" (its section is
// implied, because division numbers are unique across sections); a division
// written with the wrong section letter ("A39") is unknown.
func LookupIndustry(code string) (Industry, bool) {
	c := code
	if !isASCII(c) { // full-width forms; the transformer costs more than the rest of the lookup
		c = width.Narrow.String(c)
	}
	c = strings.ToUpper(strings.TrimSpace(c))
	// Ranging over industries[:], not the array: ranging over an array value copies all of it
	// (8 KB) first, which showed in the create's CPU profile.
	if len(c) == 2 && isASCIIDigits(c) {
		for _, ind := range industries[:] {
			if ind.Division && ind.Code[1:] == c {
				return ind, true
			}
		}
		return Industry{}, false
	}
	for _, ind := range industries[:] {
		if ind.Code == c {
			return ind, true
		}
	}
	return Industry{}, false
}

// Industries returns all 20 sections and 97 divisions ordered by code, each
// section just before its divisions (A, A01, …, A05, B, B06, …). The slice is
// a fresh copy that the caller may keep or change.
func Industries() []Industry {
	out := make([]Industry, len(industries))
	copy(out, industries[:])
	return out
}

// industries is the GB/T 4754-2017 code list; Chinese names exactly as in the
// standard, English names our own translation. Never written after start-up:
// callers only see copies.
var industries = [...]Industry{
	{Code: "A", Section: "A", NameZH: "农、林、牧、渔业", NameEN: "Agriculture, Forestry, Animal Husbandry and Fishery"},
	{Code: "A01", Section: "A", NameZH: "农业", NameEN: "Agriculture", Division: true},
	{Code: "A02", Section: "A", NameZH: "林业", NameEN: "Forestry", Division: true},
	{Code: "A03", Section: "A", NameZH: "畜牧业", NameEN: "Animal Husbandry", Division: true},
	{Code: "A04", Section: "A", NameZH: "渔业", NameEN: "Fishery", Division: true},
	{Code: "A05", Section: "A", NameZH: "农、林、牧、渔专业及辅助性活动", NameEN: "Professional and Support Activities for Agriculture, Forestry, Animal Husbandry and Fishery", Division: true},
	{Code: "B", Section: "B", NameZH: "采矿业", NameEN: "Mining"},
	{Code: "B06", Section: "B", NameZH: "煤炭开采和洗选业", NameEN: "Mining and Washing of Coal", Division: true},
	{Code: "B07", Section: "B", NameZH: "石油和天然气开采业", NameEN: "Extraction of Petroleum and Natural Gas", Division: true},
	{Code: "B08", Section: "B", NameZH: "黑色金属矿采选业", NameEN: "Mining and Dressing of Ferrous Metal Ores", Division: true},
	{Code: "B09", Section: "B", NameZH: "有色金属矿采选业", NameEN: "Mining and Dressing of Non-ferrous Metal Ores", Division: true},
	{Code: "B10", Section: "B", NameZH: "非金属矿采选业", NameEN: "Mining and Dressing of Non-metallic Minerals", Division: true},
	{Code: "B11", Section: "B", NameZH: "开采专业及辅助性活动", NameEN: "Professional and Support Activities for Mining", Division: true},
	{Code: "B12", Section: "B", NameZH: "其他采矿业", NameEN: "Other Mining", Division: true},
	{Code: "C", Section: "C", NameZH: "制造业", NameEN: "Manufacturing"},
	{Code: "C13", Section: "C", NameZH: "农副食品加工业", NameEN: "Processing of Food from Agricultural Products", Division: true},
	{Code: "C14", Section: "C", NameZH: "食品制造业", NameEN: "Manufacture of Food Products", Division: true},
	{Code: "C15", Section: "C", NameZH: "酒、饮料和精制茶制造业", NameEN: "Manufacture of Liquor, Beverages and Refined Tea", Division: true},
	{Code: "C16", Section: "C", NameZH: "烟草制品业", NameEN: "Manufacture of Tobacco Products", Division: true},
	{Code: "C17", Section: "C", NameZH: "纺织业", NameEN: "Manufacture of Textiles", Division: true},
	{Code: "C18", Section: "C", NameZH: "纺织服装、服饰业", NameEN: "Manufacture of Textile Garments and Apparel", Division: true},
	{Code: "C19", Section: "C", NameZH: "皮革、毛皮、羽毛及其制品和制鞋业", NameEN: "Manufacture of Leather, Fur, Feathers and Related Products, and Footwear", Division: true},
	{Code: "C20", Section: "C", NameZH: "木材加工和木、竹、藤、棕、草制品业", NameEN: "Processing of Timber and Manufacture of Wood, Bamboo, Rattan, Palm and Straw Products", Division: true},
	{Code: "C21", Section: "C", NameZH: "家具制造业", NameEN: "Manufacture of Furniture", Division: true},
	{Code: "C22", Section: "C", NameZH: "造纸和纸制品业", NameEN: "Manufacture of Paper and Paper Products", Division: true},
	{Code: "C23", Section: "C", NameZH: "印刷和记录媒介复制业", NameEN: "Printing and Reproduction of Recording Media", Division: true},
	{Code: "C24", Section: "C", NameZH: "文教、工美、体育和娱乐用品制造业", NameEN: "Manufacture of Articles for Culture, Education, Arts and Crafts, Sport and Entertainment", Division: true},
	{Code: "C25", Section: "C", NameZH: "石油、煤炭及其他燃料加工业", NameEN: "Processing of Petroleum, Coal and Other Fuels", Division: true},
	{Code: "C26", Section: "C", NameZH: "化学原料和化学制品制造业", NameEN: "Manufacture of Raw Chemical Materials and Chemical Products", Division: true},
	{Code: "C27", Section: "C", NameZH: "医药制造业", NameEN: "Manufacture of Medicines", Division: true},
	{Code: "C28", Section: "C", NameZH: "化学纤维制造业", NameEN: "Manufacture of Chemical Fibres", Division: true},
	{Code: "C29", Section: "C", NameZH: "橡胶和塑料制品业", NameEN: "Manufacture of Rubber and Plastic Products", Division: true},
	{Code: "C30", Section: "C", NameZH: "非金属矿物制品业", NameEN: "Manufacture of Non-metallic Mineral Products", Division: true},
	{Code: "C31", Section: "C", NameZH: "黑色金属冶炼和压延加工业", NameEN: "Smelting and Pressing of Ferrous Metals", Division: true},
	{Code: "C32", Section: "C", NameZH: "有色金属冶炼和压延加工业", NameEN: "Smelting and Pressing of Non-ferrous Metals", Division: true},
	{Code: "C33", Section: "C", NameZH: "金属制品业", NameEN: "Manufacture of Metal Products", Division: true},
	{Code: "C34", Section: "C", NameZH: "通用设备制造业", NameEN: "Manufacture of General-purpose Machinery", Division: true},
	{Code: "C35", Section: "C", NameZH: "专用设备制造业", NameEN: "Manufacture of Special-purpose Machinery", Division: true},
	{Code: "C36", Section: "C", NameZH: "汽车制造业", NameEN: "Manufacture of Motor Vehicles", Division: true},
	{Code: "C37", Section: "C", NameZH: "铁路、船舶、航空航天和其他运输设备制造业", NameEN: "Manufacture of Railway, Ship, Aerospace and Other Transport Equipment", Division: true},
	{Code: "C38", Section: "C", NameZH: "电气机械和器材制造业", NameEN: "Manufacture of Electrical Machinery and Equipment", Division: true},
	{Code: "C39", Section: "C", NameZH: "计算机、通信和其他电子设备制造业", NameEN: "Manufacture of Computers, Communication and Other Electronic Equipment", Division: true},
	{Code: "C40", Section: "C", NameZH: "仪器仪表制造业", NameEN: "Manufacture of Measuring Instruments and Meters", Division: true},
	{Code: "C41", Section: "C", NameZH: "其他制造业", NameEN: "Other Manufacturing", Division: true},
	{Code: "C42", Section: "C", NameZH: "废弃资源综合利用业", NameEN: "Comprehensive Utilisation of Waste Resources", Division: true},
	{Code: "C43", Section: "C", NameZH: "金属制品、机械和设备修理业", NameEN: "Repair of Metal Products, Machinery and Equipment", Division: true},
	{Code: "D", Section: "D", NameZH: "电力、热力、燃气及水生产和供应业", NameEN: "Production and Supply of Electricity, Heat, Gas and Water"},
	{Code: "D44", Section: "D", NameZH: "电力、热力生产和供应业", NameEN: "Production and Supply of Electricity and Heat", Division: true},
	{Code: "D45", Section: "D", NameZH: "燃气生产和供应业", NameEN: "Production and Supply of Gas", Division: true},
	{Code: "D46", Section: "D", NameZH: "水的生产和供应业", NameEN: "Production and Supply of Water", Division: true},
	{Code: "E", Section: "E", NameZH: "建筑业", NameEN: "Construction"},
	{Code: "E47", Section: "E", NameZH: "房屋建筑业", NameEN: "Construction of Buildings", Division: true},
	{Code: "E48", Section: "E", NameZH: "土木工程建筑业", NameEN: "Civil Engineering", Division: true},
	{Code: "E49", Section: "E", NameZH: "建筑安装业", NameEN: "Building Installation", Division: true},
	{Code: "E50", Section: "E", NameZH: "建筑装饰、装修和其他建筑业", NameEN: "Building Decoration, Renovation and Other Construction", Division: true},
	{Code: "F", Section: "F", NameZH: "批发和零售业", NameEN: "Wholesale and Retail Trade"},
	{Code: "F51", Section: "F", NameZH: "批发业", NameEN: "Wholesale Trade", Division: true},
	{Code: "F52", Section: "F", NameZH: "零售业", NameEN: "Retail Trade", Division: true},
	{Code: "G", Section: "G", NameZH: "交通运输、仓储和邮政业", NameEN: "Transport, Storage and Postal Services"},
	{Code: "G53", Section: "G", NameZH: "铁路运输业", NameEN: "Rail Transport", Division: true},
	{Code: "G54", Section: "G", NameZH: "道路运输业", NameEN: "Road Transport", Division: true},
	{Code: "G55", Section: "G", NameZH: "水上运输业", NameEN: "Water Transport", Division: true},
	{Code: "G56", Section: "G", NameZH: "航空运输业", NameEN: "Air Transport", Division: true},
	{Code: "G57", Section: "G", NameZH: "管道运输业", NameEN: "Pipeline Transport", Division: true},
	{Code: "G58", Section: "G", NameZH: "多式联运和运输代理业", NameEN: "Multimodal Transport and Transport Agency Services", Division: true},
	{Code: "G59", Section: "G", NameZH: "装卸搬运和仓储业", NameEN: "Loading, Unloading, Handling and Storage", Division: true},
	{Code: "G60", Section: "G", NameZH: "邮政业", NameEN: "Postal Services", Division: true},
	{Code: "H", Section: "H", NameZH: "住宿和餐饮业", NameEN: "Accommodation and Catering"},
	{Code: "H61", Section: "H", NameZH: "住宿业", NameEN: "Accommodation", Division: true},
	{Code: "H62", Section: "H", NameZH: "餐饮业", NameEN: "Catering Services", Division: true},
	{Code: "I", Section: "I", NameZH: "信息传输、软件和信息技术服务业", NameEN: "Information Transmission, Software and Information Technology Services"},
	{Code: "I63", Section: "I", NameZH: "电信、广播电视和卫星传输服务", NameEN: "Telecommunications, Radio and Television, and Satellite Transmission Services", Division: true},
	{Code: "I64", Section: "I", NameZH: "互联网和相关服务", NameEN: "Internet and Related Services", Division: true},
	{Code: "I65", Section: "I", NameZH: "软件和信息技术服务业", NameEN: "Software and Information Technology Services", Division: true},
	{Code: "J", Section: "J", NameZH: "金融业", NameEN: "Finance"},
	{Code: "J66", Section: "J", NameZH: "货币金融服务", NameEN: "Monetary and Financial Services", Division: true},
	{Code: "J67", Section: "J", NameZH: "资本市场服务", NameEN: "Capital Market Services", Division: true},
	{Code: "J68", Section: "J", NameZH: "保险业", NameEN: "Insurance", Division: true},
	{Code: "J69", Section: "J", NameZH: "其他金融业", NameEN: "Other Financial Services", Division: true},
	{Code: "K", Section: "K", NameZH: "房地产业", NameEN: "Real Estate"},
	{Code: "K70", Section: "K", NameZH: "房地产业", NameEN: "Real Estate", Division: true},
	{Code: "L", Section: "L", NameZH: "租赁和商务服务业", NameEN: "Leasing and Business Services"},
	{Code: "L71", Section: "L", NameZH: "租赁业", NameEN: "Leasing", Division: true},
	{Code: "L72", Section: "L", NameZH: "商务服务业", NameEN: "Business Services", Division: true},
	{Code: "M", Section: "M", NameZH: "科学研究和技术服务业", NameEN: "Scientific Research and Technical Services"},
	{Code: "M73", Section: "M", NameZH: "研究和试验发展", NameEN: "Research and Experimental Development", Division: true},
	{Code: "M74", Section: "M", NameZH: "专业技术服务业", NameEN: "Professional Technical Services", Division: true},
	{Code: "M75", Section: "M", NameZH: "科技推广和应用服务业", NameEN: "Technology Promotion and Application Services", Division: true},
	{Code: "N", Section: "N", NameZH: "水利、环境和公共设施管理业", NameEN: "Water Conservancy, Environment and Public Facilities Management"},
	{Code: "N76", Section: "N", NameZH: "水利管理业", NameEN: "Water Conservancy Management", Division: true},
	{Code: "N77", Section: "N", NameZH: "生态保护和环境治理业", NameEN: "Ecological Protection and Environmental Governance", Division: true},
	{Code: "N78", Section: "N", NameZH: "公共设施管理业", NameEN: "Public Facilities Management", Division: true},
	{Code: "N79", Section: "N", NameZH: "土地管理业", NameEN: "Land Management", Division: true},
	{Code: "O", Section: "O", NameZH: "居民服务、修理和其他服务业", NameEN: "Resident Services, Repair and Other Services"},
	{Code: "O80", Section: "O", NameZH: "居民服务业", NameEN: "Resident Services", Division: true},
	{Code: "O81", Section: "O", NameZH: "机动车、电子产品和日用产品修理业", NameEN: "Repair of Motor Vehicles, Electronic Products and Household Goods", Division: true},
	{Code: "O82", Section: "O", NameZH: "其他服务业", NameEN: "Other Services", Division: true},
	{Code: "P", Section: "P", NameZH: "教育", NameEN: "Education"},
	{Code: "P83", Section: "P", NameZH: "教育", NameEN: "Education", Division: true},
	{Code: "Q", Section: "Q", NameZH: "卫生和社会工作", NameEN: "Health and Social Work"},
	{Code: "Q84", Section: "Q", NameZH: "卫生", NameEN: "Health", Division: true},
	{Code: "Q85", Section: "Q", NameZH: "社会工作", NameEN: "Social Work", Division: true},
	{Code: "R", Section: "R", NameZH: "文化、体育和娱乐业", NameEN: "Culture, Sports and Entertainment"},
	{Code: "R86", Section: "R", NameZH: "新闻和出版业", NameEN: "News and Publishing", Division: true},
	{Code: "R87", Section: "R", NameZH: "广播、电视、电影和录音制作业", NameEN: "Radio, Television, Film and Sound Recording Production", Division: true},
	{Code: "R88", Section: "R", NameZH: "文化艺术业", NameEN: "Culture and Arts", Division: true},
	{Code: "R89", Section: "R", NameZH: "体育", NameEN: "Sports", Division: true},
	{Code: "R90", Section: "R", NameZH: "娱乐业", NameEN: "Entertainment", Division: true},
	{Code: "S", Section: "S", NameZH: "公共管理、社会保障和社会组织", NameEN: "Public Administration, Social Security and Social Organisations"},
	{Code: "S91", Section: "S", NameZH: "中国共产党机关", NameEN: "Organs of the Communist Party of China", Division: true},
	{Code: "S92", Section: "S", NameZH: "国家机构", NameEN: "State Organs", Division: true},
	{Code: "S93", Section: "S", NameZH: "人民政协、民主党派", NameEN: "People's Political Consultative Conference and Democratic Parties", Division: true},
	{Code: "S94", Section: "S", NameZH: "社会保障", NameEN: "Social Security", Division: true},
	{Code: "S95", Section: "S", NameZH: "群众团体、社会团体和其他成员组织", NameEN: "Mass Organisations, Social Organisations and Other Membership Organisations", Division: true},
	{Code: "S96", Section: "S", NameZH: "基层群众自治组织及其他组织", NameEN: "Grassroots Mass Self-governing Organisations and Other Organisations", Division: true},
	{Code: "T", Section: "T", NameZH: "国际组织", NameEN: "International Organisations"},
	{Code: "T97", Section: "T", NameZH: "国际组织", NameEN: "International Organisations", Division: true},
}

func isASCII(s string) bool {
	for i := range len(s) {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
