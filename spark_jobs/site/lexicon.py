"""Multilingual building blocks for fictional names (English / Japanese / Chinese).

Character names are transliterations: each syllable has a romaji, a katakana and a Chinese
character, so one entity has three consistent names (e.g. "Karina" / "カリナ" / "卡莉娜"), the way
real anime characters are named across sites. Series titles are built from translated words.
"""

from __future__ import annotations

SYLLABLES: list[tuple[str, str, str]] = [
    ("a", "ア", "阿"),
    ("i", "イ", "伊"),
    ("u", "ウ", "乌"),
    ("e", "エ", "艾"),
    ("o", "オ", "奥"),
    ("ka", "カ", "卡"),
    ("ki", "キ", "基"),
    ("ku", "ク", "库"),
    ("ke", "ケ", "克"),
    ("ko", "コ", "科"),
    ("sa", "サ", "萨"),
    ("shi", "シ", "希"),
    ("su", "ス", "斯"),
    ("se", "セ", "塞"),
    ("so", "ソ", "索"),
    ("ta", "タ", "塔"),
    ("chi", "チ", "千"),
    ("tsu", "ツ", "津"),
    ("te", "テ", "泰"),
    ("to", "ト", "托"),
    ("na", "ナ", "娜"),
    ("ni", "ニ", "妮"),
    ("nu", "ヌ", "努"),
    ("ne", "ネ", "内"),
    ("no", "ノ", "诺"),
    ("ha", "ハ", "哈"),
    ("hi", "ヒ", "希"),
    ("fu", "フ", "芙"),
    ("he", "ヘ", "赫"),
    ("ho", "ホ", "霍"),
    ("ma", "マ", "玛"),
    ("mi", "ミ", "米"),
    ("mu", "ム", "穆"),
    ("me", "メ", "梅"),
    ("mo", "モ", "莫"),
    ("ya", "ヤ", "雅"),
    ("yu", "ユ", "优"),
    ("yo", "ヨ", "尤"),
    ("ra", "ラ", "拉"),
    ("ri", "リ", "莉"),
    ("ru", "ル", "露"),
    ("re", "レ", "蕾"),
    ("ro", "ロ", "罗"),
    ("wa", "ワ", "瓦"),
    ("n", "ン", "恩"),
]

TITLE_WORDS: list[tuple[str, str, str]] = [
    ("Crimson", "紅", "红"),
    ("Azure", "蒼", "苍"),
    ("Silver", "銀", "银"),
    ("Golden", "金色", "金色"),
    ("Star", "星", "星"),
    ("Moon", "月", "月"),
    ("Sky", "空", "天空"),
    ("Shadow", "影", "影"),
    ("Blade", "剣", "剑"),
    ("Academy", "学園", "学园"),
    ("Knight", "騎士", "骑士"),
    ("Witch", "魔女", "魔女"),
    ("Dragon", "竜", "龙"),
    ("Garden", "庭園", "庭园"),
    ("Spirit", "精霊", "精灵"),
    ("Sea", "海", "海"),
    ("Flame", "炎", "火焰"),
    ("Frost", "霜", "霜"),
    ("Clockwork", "時計仕掛け", "发条"),
    ("Idol", "アイドル", "偶像"),
    ("Empire", "帝国", "帝国"),
    ("Festival", "祭り", "祭典"),
    ("Requiem", "鎮魂歌", "安魂曲"),
    ("Tale", "物語", "物语"),
    ("Circus", "サーカス", "马戏团"),
    ("Horizon", "地平線", "地平线"),
    ("Labyrinth", "迷宮", "迷宫"),
    ("Sakura", "桜", "樱花"),
    ("Thunder", "雷", "雷霆"),
    ("Paradox", "パラドックス", "悖论"),
    ("Alchemy", "錬金術", "炼金术"),
    ("Voyage", "航海", "远航"),
    ("Lantern", "灯篭", "灯笼"),
    ("Rebellion", "反逆", "反叛"),
]

GENRES: list[str] = [
    "fantasy",
    "school comedy",
    "mecha",
    "idol",
    "mystery",
    "slice-of-life",
    "space opera",
    "dark fantasy",
    "sports",
    "romance",
]

SETTING_KINDS: list[tuple[str, str]] = [
    ("Core", "the power source that every {series} pilot must bond with"),
    ("Seal", "a forbidden technique in {series} that binds a spirit to its wielder"),
    ("Guild", "the organisation that assigns missions to the heroes of {series}"),
    ("Crystal", "a gem in {series} that stores memories and grants brief visions"),
    ("Gate", "a portal in {series} linking the human world with the spirit realm"),
    ("Sigil", "a mark in {series} that shows a character's rank and element"),
]

# Subjects painted in the images; the word is also a tag (in one of three languages).
SUBJECT_WORDS: list[tuple[str, str, str]] = [
    ("portrait", "ポートレート", "肖像"),
    ("cat", "猫", "猫"),
    ("dragon", "ドラゴン", "龙"),
    ("landscape", "風景", "风景"),
    ("ocean", "海", "海洋"),
    ("city", "街", "城市"),
    ("flower", "花", "花"),
    ("sword", "剣", "剑"),
    ("robot", "ロボット", "机器人"),
    ("starry sky", "星空", "星空"),
    ("food", "食べ物", "美食"),
    ("castle", "城", "城堡"),
]

# Painting-style words: rarely tagged by artists (the image is what shows style).
STYLE_WORDS: list[tuple[str, str, str]] = [
    ("watercolor", "水彩", "水彩"),
    ("cel shading", "アニメ塗り", "赛璐璐"),
    ("pencil sketch", "鉛筆", "铅笔素描"),
    ("oil painting", "厚塗り", "厚涂"),
    ("pixel art", "ドット絵", "像素画"),
    ("neon", "ネオン", "霓虹"),
    ("ukiyo-e", "浮世絵", "浮世绘"),
    ("pastel", "パステル", "粉彩"),
]

ORIGINAL_TAG: tuple[str, str, str] = ("original", "オリジナル", "原创")
AI_TAG: tuple[str, str, str] = ("AI-generated", "AI生成", "AI生成")
LANGUAGES: tuple[str, str, str] = ("en", "ja", "zh")
REGIONS: list[str] = ["JP", "CN", "TW", "US", "KR", "FR", "BR", "DE"]
REGION_LANGUAGE: dict[str, int] = {"JP": 1, "CN": 2, "TW": 2, "US": 0, "KR": 0, "FR": 0, "BR": 0, "DE": 0}


def join_name(parts: list[tuple[str, str, str]]) -> tuple[str, str, str]:
    """Join syllables into (English, Japanese, Chinese) forms of one given name."""
    en = "".join(p[0] for p in parts).capitalize()
    return en, "".join(p[1] for p in parts), "".join(p[2] for p in parts)
