//! Words that keep their final period, as coco-caption's PTBTokenizer (Stanford CoreNLP 3.4.1)
//! keeps them: measured one by one against that jar (`the X. dog`, `the X. 5`, `the X. Dog`).

/// Abbreviations that keep their period wherever they stand (compared lower-cased): months,
/// days, states, company suffixes and a few others, whose rule looks two characters ahead.
const LOOKING_AHEAD: &[&str] = &[
    "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "mon", "tue",
    "tues", "wed", "thu", "thurs", "fri", "ala", "ariz", "calif", "colo", "conn", "ct", "dak", "fla", "ga",
    "ind", "kan", "kans", "ky", "md", "mich", "minn", "mo", "mont", "neb", "nev", "okla", "penn", "tenn",
    "va", "vt", "wis", "wisc", "wyo", "inc", "co", "cos", "corp", "pty", "ltd", "plc", "rt", "bancorp",
    "bhd", "assn", "univ", "intl", "sys", "tel", "est", "ext", "sq", "jr", "sr", "bros", "esq", "etc", "al",
    "seq",
];

/// Titles and other abbreviations that keep their period wherever they stand, whose rule looks
/// no further (`Gov.-B` is one hyphenated token, `Inc.-B` is not).
const TITLES: &[&str] = &[
    "mr", "mrs", "ms", "dr", "drs", "prof", "profs", "sen", "sens", "rep", "reps", "atty", "attys", "lt",
    "col", "gen", "messrs", "gov", "govs", "adm", "rev", "maj", "sgt", "cpl", "pvt", "capt", "st", "ste",
    "ave", "pres", "lieut", "hon", "brig", "cmdr", "comdr", "pfc", "spc", "supt", "supts", "det", "mt", "ft",
    "adj", "adv", "asst", "assoc", "ens", "insp", "mlle", "mme", "msgr", "sfc", "invt", "elec", "natl",
    "mfg", "mtg", "dept", "blvd", "rd", "cf", "treas", "ph", "jos", "wm", "cie", "vs",
];

/// Abbreviations that keep their period only when capitalised (`Mass.` but `mass .`): the
/// jar's patterns spell their first letter as an upper-case character class.
const CAPITALISED: &[&str] = &[
    "ark", "az", "del", "ill", "la", "mass", "miss", "ore", "pa", "tex", "wash",
];

/// Abbreviations that keep their period only before a number (`no. 5`, but `no .` otherwise).
const BEFORE_NUMBER: &[&str] = &["art", "ca", "fig", "figs", "no", "nos", "op", "pp", "prop"];

/// How an abbreviation's rule matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Abbreviation {
    /// Keeps its period; the rule's two characters of look-ahead count towards its length.
    LookingAhead,
    /// Keeps its period; no look-ahead.
    Title,
}

/// Whether `word` (letters only, without its period) keeps a following period, and how;
/// `before_number` says whether the period is followed by spaces and a digit.
pub fn abbreviation(word: &str, before_number: bool) -> Option<Abbreviation> {
    let lower = word.to_lowercase();
    let lower = lower.as_str();
    let capitalised = word.starts_with(|c: char| c.is_ascii_uppercase());
    if LOOKING_AHEAD.contains(&lower) || (capitalised && CAPITALISED.contains(&lower)) {
        Some(Abbreviation::LookingAhead)
    } else if TITLES.contains(&lower) || (before_number && BEFORE_NUMBER.contains(&lower)) {
        Some(Abbreviation::Title)
    } else {
        None
    }
}
