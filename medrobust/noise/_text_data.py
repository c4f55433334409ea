"""Word lists behind the clinical text noises: keyboard layout, OCR confusions, homophones,
abbreviations, real misspellings, phonetic spelling rules and homoglyphs.

Everything here is data; the clinical text noises (``text_misspelling``, ``text_abbreviations``,
``text_format``) only look it up.
No entry may produce a protected token (negation, laterality, numbers, units): the lists avoid
them ("write/right", "know/no", "knot/not", "won/one", "to/two" are left out on purpose) and the
noises check every replacement again.
"""

from __future__ import annotations

from typing import Mapping

__all__ = [
    "KEYBOARD_ROWS", "KEYBOARD_NEIGHBOURS", "OCR_CONFUSIONS", "HOMOPHONE_GROUPS", "HOMOPHONES",
    "ABBREVIATIONS", "CASE_SENSITIVE_SHORT_FORMS", "MISSPELLINGS", "PHONETIC_RULES", "HOMOGLYPHS",
    "ZERO_WIDTH", "PUNCTUATION_MARKS", "WHITESPACE_VARIANTS",
]

# --- keyboard (QWERTY) -----------------------------------------------------------------------

KEYBOARD_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")


def _keyboard_neighbours(rows: tuple[str, ...]) -> dict[str, str]:
    """Keys touching each key on a staggered QWERTY layout (same row +-1, row above i/i+1, below i-1/i)."""
    neighbours: dict[str, str] = {}
    for r, row in enumerate(rows):
        for i, key in enumerate(row):
            near = [row[j] for j in (i - 1, i + 1) if 0 <= j < len(row)]
            if r > 0:
                near += [rows[r - 1][j] for j in (i, i + 1) if 0 <= j < len(rows[r - 1])]
            if r + 1 < len(rows):
                near += [rows[r + 1][j] for j in (i - 1, i) if 0 <= j < len(rows[r + 1])]
            neighbours[key] = "".join(sorted(set(near)))
    return neighbours


KEYBOARD_NEIGHBOURS: Mapping[str, str] = _keyboard_neighbours(KEYBOARD_ROWS)

# --- OCR -------------------------------------------------------------------------------------

# (source, replacement, weight): classic glyph confusions of scanned or photographed print.
# Letters only: a digit would turn the word into a protected number (O->0, l->1, S->5 are out).
OCR_CONFUSIONS: tuple[tuple[str, str, int], ...] = (
    ("rn", "m", 4), ("m", "rn", 4), ("cl", "d", 3), ("d", "cl", 3), ("l", "I", 3), ("I", "l", 3),
    ("vv", "w", 2), ("w", "vv", 2), ("li", "h", 2), ("h", "li", 2), ("ri", "n", 2), ("n", "ri", 2),
    ("e", "c", 2), ("c", "e", 2), ("i", "l", 1), ("t", "f", 1), ("f", "t", 1), ("u", "v", 1),
    ("v", "u", 1), ("g", "q", 1), ("q", "g", 1), ("h", "b", 1), ("b", "h", 1), ("a", "o", 1),
    ("O", "Q", 1), ("E", "F", 1), ("F", "E", 1), ("D", "O", 1),
)

# --- speech recognition ----------------------------------------------------------------------

# Groups of words a speech recogniser confuses (true homophones and near-homophones).
HOMOPHONE_GROUPS: tuple[tuple[str, ...], ...] = (
    # clinical
    ("ileum", "ilium"), ("pleural", "plural"), ("mucus", "mucous"), ("humerus", "humorous"),
    ("perineal", "peroneal"), ("callus", "callous"), ("dysphagia", "dysphasia"), ("aural", "oral"),
    ("cord", "chord"), ("palate", "palette", "pallet"), ("vein", "vain", "vane"), ("heal", "heel"),
    ("discrete", "discreet"), ("site", "sight", "cite"), ("prostate", "prostrate"), ("bowel", "bowl"),
    ("fundus", "fungus"), ("lesion", "legion"), ("lesions", "legions"), ("vesicle", "vesical"),
    ("radical", "radicle"), ("cecum", "caecum"), ("ascites", "acidities"), ("sella", "cellar"),
    ("patients", "patience"),
    ("gauze", "gaze"), ("facial", "fascial"), ("tract", "track"), ("liver", "lever"),
    # everyday words of clinical questions
    ("there", "their", "they're"), ("which", "witch"), ("side", "sighed"), ("shown", "shone"),
    ("be", "bee"), ("seen", "scene"), ("in", "inn"), ("are", "our"), ("where", "wear", "ware"),
    ("or", "oar", "ore"), ("an", "and"), ("of", "off"), ("is", "his"), ("as", "has"), ("what", "watt"),
    ("see", "sea"), ("by", "buy", "bye"), ("whole", "hole"), ("way", "weigh"), ("made", "maid"),
    ("new", "knew"), ("its", "it's"), ("your", "you're"), ("weak", "week"), ("pain", "pane"),
    ("taken", "taking"), ("used", "use"), ("many", "mini"), ("big", "pig"), ("image", "images"),
    ("this", "these"), ("modality", "morality"), ("imaging", "imagine"),
    ("abnormality", "abnormally"), ("photograph", "photographed"), ("size", "sighs"),
)


def _homophones(groups: tuple[tuple[str, ...], ...]) -> dict[str, tuple[str, ...]]:
    table: dict[str, tuple[str, ...]] = {}
    for group in groups:
        for word in group:
            if word in table:
                raise ValueError(f"homophone {word!r} is in two groups")
            table[word] = tuple(w for w in group if w != word)
    return table


HOMOPHONES: Mapping[str, tuple[str, ...]] = _homophones(HOMOPHONE_GROUPS)

# --- abbreviations ---------------------------------------------------------------------------

# (long form, short form), applied in both directions; long forms lower case, longest match first.
ABBREVIATIONS: tuple[tuple[str, str], ...] = (
    ("computed tomography", "CT"), ("magnetic resonance imaging", "MRI"), ("magnetic resonance", "MR"),
    ("x-ray", "radiograph"), ("x-rays", "radiographs"), ("chest x-ray", "CXR"), ("ultrasound", "US"),
    ("positron emission tomography", "PET"), ("electrocardiogram", "ECG"), ("echocardiogram", "echo"),
    ("anteroposterior", "AP"), ("posteroanterior", "PA"), ("image", "img"), ("images", "imgs"),
    ("abnormality", "abnl"), ("abdomen", "abd"), ("abdominal", "abdo"),
    ("patient", "pt"), ("history", "hx"), ("diagnosis", "dx"), ("fracture", "fx"), ("treatment", "tx"),
    ("examination", "exam"), ("photograph", "photo"), ("pneumothorax", "PTX"), ("pneumonia", "PNA"),
    ("central nervous system", "CNS"), ("gastrointestinal", "GI"), ("cerebrospinal fluid", "CSF"),
    ("lymph node", "LN"), ("lymph nodes", "LNs"), ("white matter", "WM"), ("gray matter", "GM"),
    ("with", "w/"), ("and", "&"), ("approximately", "approx"),
    ("pulmonary embolism", "PE"), ("emergency department", "ED"), ("gallbladder", "GB"),
    ("rule out", "r/o"), ("consistent with", "c/w"), ("vertebra", "vert"),
    ("superior", "sup"), ("inferior", "inf"), ("lateral", "lat"),
)

# Acronyms that are also everyday words in lower case ("us", "pa", "ed", "pet"...): matched only in
# capitals.
CASE_SENSITIVE_SHORT_FORMS = frozenset({"US", "PA", "AP", "ED", "PE", "GB", "GM", "PET"})

# --- misspellings ----------------------------------------------------------------------------

# Real misspellings of drug, anatomy and radiology words (and of words common in questions).
MISSPELLINGS: Mapping[str, tuple[str, ...]] = {
    # drugs
    "acetaminophen": ("acetominophen", "acetaminophin"), "ibuprofen": ("ibuprophen", "ibuprofin"),
    "amoxicillin": ("amoxicilin", "amoxycillin"), "metformin": ("metforman", "metphormin"),
    "warfarin": ("warfrin", "warferin"), "heparin": ("heparine", "hepirin"), "insulin": ("insuline", "insolin"),
    "lisinopril": ("lisinipril", "lysinopril"), "atorvastatin": ("atorvastatine", "atorvostatin"),
    "omeprazole": ("omeprazol", "omeprazile"), "prednisone": ("predisone", "prednisine"),
    "furosemide": ("furosemid", "furosimide"), "penicillin": ("penicilin", "pennicillin"),
    "morphine": ("morphin", "morfine"), "paracetamol": ("paracetemol", "paracetamole"),
    "aspirin": ("asprin", "aspirine"), "clopidogrel": ("clopidigrel", "clopidogrill"),
    "levothyroxine": ("levothyroxin", "levothyroxene"), "gadolinium": ("gadolinum", "gadolineum"),
    "iodinated": ("iodenated",), "barium": ("barum", "bariem"),
    # anatomy
    "abdomen": ("abdomin", "abdomon"), "abdominal": ("abdominle", "abdomenal"),
    "diaphragm": ("diaphram", "diafragm"), "esophagus": ("esophogus", "esophagas"),
    "trachea": ("trachia", "tracea"), "bronchus": ("bronchous", "broncus"),
    "vertebra": ("vertabra", "verterbra"), "vertebrae": ("vertebrea", "vertabrae"),
    "cerebellum": ("cerebelum", "cerebellem"), "cerebral": ("cerebrel", "cerebal"),
    "hippocampus": ("hipocampus", "hippocampas"), "clavicle": ("clavical", "clavicel"),
    "scapula": ("scapulla", "scapala"), "sternum": ("sturnum", "sternem"), "pelvis": ("pelvus", "pelivs"),
    "duodenum": ("duodenem", "deudenum"), "pancreas": ("pancrease", "pancrias"),
    "kidney": ("kidny", "kidnay"), "kidneys": ("kidnies", "kidneies"), "bladder": ("bladdar", "blader"),
    "gallbladder": ("gallblader", "galbladder"), "uterus": ("uteris", "uteras"), "prostate": ("prostrate",),
    "thyroid": ("thyriod", "thyroyd"), "aorta": ("aourta", "arota"), "ventricle": ("ventrical", "ventricel"),
    "pericardium": ("pericardum", "paricardium"), "liver": ("livre", "livor"), "spleen": ("splean", "spleeen"),
    "lung": ("lugn", "lunge"), "lungs": ("lungues", "lunges"), "brain": ("brian", "brane"), "chest": ("chset", "chets"),
    "heart": ("heartt", "hart"), "skull": ("scull", "skul"), "femur": ("femer", "femour"),
    "organ": ("orgen", "organe"), "fundus": ("fundis", "fundas"), "retina": ("retena", "retnia"),
    # findings and radiology
    "pneumonia": ("neumonia", "pnemonia"), "pneumothorax": ("pnuemothorax", "pneumothorx"),
    "pleural": ("plueral", "pleurel"), "lesion": ("lession", "leison"), "lesions": ("lessions", "leisons"),
    "nodule": ("nodual", "nodle"), "abnormality": ("abnormallity", "abnormalaty"),
    "abnormalities": ("abnormalitys", "abnormallities"), "cardiomegaly": ("cardiomegally", "cardiomagaly"),
    "atelectasis": ("atelectisis", "atelactasis"), "effusion": ("efusion", "effussion"),
    "hemorrhage": ("hemorage", "hemmorhage"), "edema": ("edemma", "edima"), "fracture": ("fracure", "fractur"),
    "malignant": ("malignent", "maligant"), "tumor": ("tumer", "tumur"), "cyst": ("cist", "syst"),
    "modality": ("modaility", "modallity"), "imaging": ("imageing", "imagin"), "image": ("imagee", "imige"),
    "photograph": ("photgraph", "fotograph"), "visible": ("visable", "visibel"), "x-ray": ("xray", "x-rey"),
    "which": ("wich", "whitch"), "large": ("larg", "lagre"), "there": ("ther", "thier"),
    "shown": ("shwon", "shon"), "taken": ("takin", "taiken"), "seen": ("sen", "seeen"),
}

# (regex, replacement) phonetic misspellings, one applied at a random match: the fallback for words
# the table does not know.
PHONETIC_RULES: tuple[tuple[str, str], ...] = (
    (r"ph", "f"), (r"ae", "e"), (r"oe", "e"), (r"(?<=\w)y", "i"), (r"([bcdfglmnprst])\1", r"\1"),
    (r"(?<=[aeiou])([bdfglmnprt])(?=[aeiou])", r"\1\1"), (r"tion", "sion"), (r"sion", "tion"),
    (r"c(?=[aou])", "k"), (r"ie", "ei"), (r"ei", "ie"), (r"ible$", "able"), (r"able$", "ible"),
    (r"ous$", "us"), (r"ance$", "ence"), (r"ence$", "ance"), (r"ant$", "ent"), (r"ent$", "ant"),
    (r"wh", "w"), (r"ck", "k"), (r"(?<=[bcdfgklmnprstvz])e$", ""), (r"(?<=\w)a(?=\w)", "e"),
    (r"(?<=\w)e(?=\w)", "a"), (r"(?<=\w)i(?=\w)", "e"), (r"(?<=\w)o(?=\w)", "u"), (r"(?<=\w)u(?=\w)", "o"),
    (r"x", "ks"), (r"qu", "kw"),
)

# --- unicode ---------------------------------------------------------------------------------

# Latin letter -> Cyrillic / Greek letters drawn the same (Unicode confusables, "MA" table).
HOMOGLYPHS: Mapping[str, str] = {
    "a": "\u0430", "c": "\u0441", "e": "\u0435", "i": "\u0456", "j": "\u0458", "o": "\u043e\u03bf",
    "p": "\u0440", "s": "\u0455", "x": "\u0445", "y": "\u0443", "h": "\u04bb", "d": "\u0501",
    "v": "\u03bd", "l": "\u04cf",
    "A": "\u0410\u0391", "B": "\u0412\u0392", "C": "\u0421", "E": "\u0415\u0395", "H": "\u041d\u0397",
    "I": "\u0406\u0399", "J": "\u0408", "K": "\u041a\u039a", "M": "\u041c\u039c", "N": "\u039d",
    "O": "\u041e\u039f", "P": "\u0420\u03a1", "S": "\u0405", "T": "\u0422\u03a4", "X": "\u0425\u03a7",
    "Y": "\u04ae\u03a5", "Z": "\u0396",
}

# Invisible characters a copy from a PDF or web page leaves inside words.
ZERO_WIDTH = ("\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad")

# --- format ----------------------------------------------------------------------------------

PUNCTUATION_MARKS = (",", ".", "?", ";", ":", "!")
WHITESPACE_VARIANTS = ("  ", "\t", "\n", "\u00a0", "   ")
