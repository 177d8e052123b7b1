//! The formats on a small canonical CSV: keys, types, labels and escaping.
use std::fs::File;

use super::*;
use serde_json::{json, Value};

/// Two topics; passthrough `id, text, speaker, topics` (a gold `topics` column); rows: on
/// topic, off topic (scored), not scored.
const CANONICAL: &str = "\
id,text,speaker,topics,on_topic,topics,top_topic,topic_encryption,topic_interception,stance,stance_score,stance_pro_powers,stance_anti_powers,stance_mixed,stance_neutral,evidence,stance_evidence,n_words,n_chunks,status
s1,\"Keep \"\"end-to-end\"\" encryption,\nplease.\",Rowe,encryption,0.8123,encryption;interception,encryption,0.9100,0.6200,anti_powers,-0.4000,0.1000,0.5000,0.1500,0.0623,Keep encryption.,\"\"\"Keep it,\"\" they say; I say so too.\",5,1,ok
s2,Floods in Appleby.,Bracewell,,0.1000,,,0.0500,0.0400,none,0.0100,0.0300,0.0200,0.0300,0.0200,,,3,1,ok
s3,,Quayle,,,,,,,,,,,,,,,0,0,empty
";

fn ctx() -> FormatContext {
    FormatContext {
        text_col: "text".into(),
        id_col: "id".into(),
        topics: vec!["encryption".into(), "interception".into()],
        thresholds: vec![0.5, 0.6],
        model_version: "all-MiniLM-L6-v2+prototypes".into(),
        excel_bom: false,
        output: PathBuf::from("out"),
    }
}

fn run(format: OutputFormat, ctx: &FormatContext) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("canonical.csv");
    std::fs::write(&path, CANONICAL).unwrap();
    let mut out = Vec::new();
    convert(format, &path, &mut out, ctx).unwrap();
    out
}

fn lines(bytes: &[u8]) -> Vec<Value> {
    std::str::from_utf8(bytes).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// Keys of a JSON object in the order written.
fn keys(line: &str) -> Vec<String> {
    let mut de = serde_json::Deserializer::from_str(line);
    struct Keys(Vec<String>);
    impl<'de> serde::Deserialize<'de> for Keys {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> serde::de::Visitor<'de> for V {
                type Value = Vec<String>;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("an object")
                }
                fn visit_map<A: serde::de::MapAccess<'de>>(self, mut m: A) -> Result<Vec<String>, A::Error> {
                    let mut out = Vec::new();
                    while let Some((k, _)) = m.next_entry::<String, serde::de::IgnoredAny>()? {
                        out.push(k);
                    }
                    Ok(out)
                }
            }
            d.deserialize_map(V).map(Keys)
        }
    }
    <Keys as serde::Deserialize>::deserialize(&mut de).unwrap().0
}

#[test]
fn names_parse_and_print() {
    use clap::ValueEnum;
    for f in OutputFormat::value_variants() {
        let name = f.to_possible_value().unwrap().get_name().to_string();
        assert_eq!(OutputFormat::from_str(&name, true), Ok(*f));
        assert_eq!(f.to_string(), name);
    }
    assert_eq!(OutputFormat::from_str("label-studio", true), Ok(OutputFormat::Labelstudio));
    assert!(OutputFormat::from_str("xlsx", true).is_err());
    assert_eq!(OutputFormat::Labelstudio.extension(), "json");
}

#[test]
fn csv_is_copied_with_an_optional_bom_and_tsv_has_the_same_fields() {
    assert_eq!(run(OutputFormat::Csv, &ctx()), CANONICAL.as_bytes());
    let with_bom = run(OutputFormat::Csv, &FormatContext { excel_bom: true, ..ctx() });
    assert_eq!(&with_bom[..3], UTF8_BOM);
    assert_eq!(&with_bom[3..], CANONICAL.as_bytes());

    let tsv = run(OutputFormat::Tsv, &ctx());
    let mut a = ::csv::ReaderBuilder::new().delimiter(b'\t').from_reader(tsv.as_slice());
    let mut b = ::csv::ReaderBuilder::new().from_reader(CANONICAL.as_bytes());
    assert_eq!(a.headers().unwrap(), b.headers().unwrap());
    let (ra, rb): (Vec<_>, Vec<_>) = (a.records().map(Result::unwrap).collect(), b.records().map(Result::unwrap).collect());
    assert_eq!(ra, rb);
    assert!(std::str::from_utf8(&tsv).unwrap().starts_with("id\ttext\tspeaker\ttopics\ton_topic\t"));
}

#[test]
fn jsonl_is_typed_and_keeps_column_order() {
    let out = run(OutputFormat::Jsonl, &ctx());
    let text = std::str::from_utf8(&out).unwrap();
    let first = text.lines().next().unwrap();
    assert_eq!(keys(first)[..6], ["id", "text", "speaker", "input_topics", "on_topic", "topics"]);
    let rows = lines(&out);
    assert_eq!(rows[0], json!({
        "id": "s1", "text": "Keep \"end-to-end\" encryption,\nplease.", "speaker": "Rowe", "input_topics": "encryption",
        "on_topic": 0.8123, "topics": ["encryption", "interception"], "top_topic": "encryption",
        "topic_encryption": 0.91, "topic_interception": 0.62, "stance": "anti_powers", "stance_score": -0.4,
        "stance_pro_powers": 0.1, "stance_anti_powers": 0.5, "stance_mixed": 0.15, "stance_neutral": 0.0623,
        "evidence": "Keep encryption.", "stance_evidence": "\"Keep it,\" they say; I say so too.", "n_words": 5, "n_chunks": 1, "status": "ok"
    }));
    assert_eq!(rows[1]["topics"], json!([]));
    assert_eq!(rows[1]["top_topic"], Value::Null);
    assert_eq!(rows[1]["stance"], "none");
    assert_eq!(rows[2], json!({
        "id": "s3", "text": "", "speaker": "Quayle", "input_topics": "", "on_topic": null, "topics": null,
        "top_topic": null, "topic_encryption": null, "topic_interception": null, "stance": null, "stance_score": null,
        "stance_pro_powers": null, "stance_anti_powers": null, "stance_mixed": null, "stance_neutral": null,
        "evidence": null, "stance_evidence": null, "n_words": 0, "n_chunks": 0, "status": "empty"
    }));
    assert!(first.contains("\"on_topic\":0.8123,") && text.contains("\"stance_score\":0.01,"), "floats stay floats: {text}");
}

#[test]
fn labelstudio_tasks_carry_predictions() {
    let out = run(OutputFormat::Labelstudio, &ctx());
    let tasks: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(tasks, json!([
        {
            "id": 1,
            "data": {"id": "s1", "text": "Keep \"end-to-end\" encryption,\nplease.", "speaker": "Rowe", "topics": "encryption", "stance_evidence": "\"Keep it,\" they say; I say so too."},
            "predictions": [{
                "model_version": "all-MiniLM-L6-v2+prototypes",
                "score": 0.8123,
                "result": [
                    {"from_name": "topics", "to_name": "text", "type": "choices", "value": {"choices": ["encryption", "interception"]}, "score": 0.91},
                    {"from_name": "stance", "to_name": "text", "type": "choices", "value": {"choices": ["anti_powers"]}, "score": 0.5}
                ]
            }]
        },
        {
            "id": 2,
            "data": {"id": "s2", "text": "Floods in Appleby.", "speaker": "Bracewell", "topics": "", "stance_evidence": ""},
            "predictions": [{
                "model_version": "all-MiniLM-L6-v2+prototypes",
                "score": 0.1,
                "result": [
                    {"from_name": "stance", "to_name": "text", "type": "choices", "value": {"choices": ["none"]}, "score": 0.9}
                ]
            }]
        },
        {"id": 3, "data": {"id": "s3", "text": "", "speaker": "Quayle", "topics": "", "stance_evidence": ""}, "predictions": []}
    ]));
    let empty = {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.csv");
        std::fs::write(&path, CANONICAL.lines().next().unwrap()).unwrap();
        let mut out = Vec::new();
        convert(OutputFormat::Labelstudio, &path, &mut out, &ctx()).unwrap();
        out
    };
    assert_eq!(empty, b"[]\n");
}

#[test]
fn labelstudio_puts_another_text_column_under_text() {
    let c = FormatContext { text_col: "speaker".into(), id_col: "speech_id".into(), ..ctx() };
    let tasks: Value = serde_json::from_slice(&run(OutputFormat::Labelstudio, &c)).unwrap();
    assert_eq!(tasks[0]["data"], json!({"text": "Rowe", "input_text": "Keep \"end-to-end\" encryption,\nplease.", "id": "s1", "topics": "encryption", "stance_evidence": "\"Keep it,\" they say; I say so too."}));
}

#[test]
fn prodigy_tasks_offer_every_topic() {
    let rows = lines(&run(OutputFormat::Prodigy, &ctx()));
    assert_eq!(rows[0], json!({
        "text": "Keep \"end-to-end\" encryption,\nplease.",
        "meta": {"id": "s1", "speaker": "Rowe", "topics": "encryption", "stance": "anti_powers", "stance_score": -0.4, "stance_evidence": "\"Keep it,\" they say; I say so too."},
        "options": [
            {"id": "encryption", "text": "encryption", "score": 0.91},
            {"id": "interception", "text": "interception", "score": 0.62}
        ],
        "accept": ["encryption", "interception"]
    }));
    assert_eq!(rows[1]["accept"], json!([]));
    assert_eq!(rows[1]["meta"]["stance"], "none");
    assert_eq!(rows[2], json!({
        "text": "",
        "meta": {"id": "s3", "speaker": "Quayle", "topics": "", "stance": null, "stance_score": null, "stance_evidence": null, "status": "empty"},
        "options": [{"id": "encryption", "text": "encryption"}, {"id": "interception", "text": "interception"}],
        "accept": []
    }));
}

#[test]
fn doccano_labels_are_topics_and_the_stance() {
    let out = run(OutputFormat::Doccano, &ctx());
    let first = std::str::from_utf8(&out).unwrap().lines().next().unwrap().to_string();
    assert_eq!(keys(&first), ["text", "label", "id", "stance_evidence", "speaker", "topics"]);
    let rows = lines(&out);
    assert_eq!(rows[0], json!({
        "text": "Keep \"end-to-end\" encryption,\nplease.", "label": ["encryption", "interception", "stance:anti_powers"],
        "id": "s1", "stance_evidence": "\"Keep it,\" they say; I say so too.", "speaker": "Rowe", "topics": "encryption"
    }));
    assert_eq!(rows[1]["label"], json!(["stance:none"]));
    assert_eq!(rows[2]["label"], json!([]));
    // Without an id column, ids are row numbers.
    let rows = lines(&run(OutputFormat::Doccano, &FormatContext { id_col: "nope".into(), ..ctx() }));
    assert_eq!((rows[0]["id"].clone(), rows[2]["id"].clone(), rows[0]["input_id"].clone()), (json!(1), json!(3), json!("s1")));
}

#[test]
fn parquet_has_typed_columns_that_read_back() {
    use ::parquet::basic::{LogicalType, Type as Physical};
    use ::parquet::file::reader::{FileReader, SerializedFileReader};
    use ::parquet::record::{Field, RowAccessor};

    let bytes = run(OutputFormat::Parquet, &ctx());
    assert_eq!((&bytes[..4], &bytes[bytes.len() - 4..]), (&b"PAR1"[..], &b"PAR1"[..]));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.parquet");
    std::fs::write(&path, &bytes).unwrap();
    let reader = SerializedFileReader::new(File::open(&path).unwrap()).unwrap();
    let meta = reader.metadata().file_metadata();
    assert_eq!(meta.num_rows(), 3);
    let kv = meta.key_value_metadata().unwrap();
    assert!(kv.iter().any(|k| k.key == "parlscan.model_version" && k.value.as_deref() == Some("all-MiniLM-L6-v2+prototypes")));
    let schema = meta.schema_descr();
    let column = |name: &str| (0..schema.num_columns()).map(|i| schema.column(i)).find(|c| c.name() == name).unwrap();
    let table = [
        ("id", Physical::BYTE_ARRAY, Some(LogicalType::String), 0),
        ("input_topics", Physical::BYTE_ARRAY, Some(LogicalType::String), 0),
        ("on_topic", Physical::DOUBLE, None, 1),
        ("topics", Physical::BYTE_ARRAY, Some(LogicalType::String), 1),
        ("topic_interception", Physical::DOUBLE, None, 1),
        ("stance", Physical::BYTE_ARRAY, Some(LogicalType::String), 1),
        ("stance_score", Physical::DOUBLE, None, 1),
        ("n_words", Physical::INT64, None, 1),
        ("n_chunks", Physical::INT64, None, 1),
        ("status", Physical::BYTE_ARRAY, Some(LogicalType::String), 0),
    ];
    for (name, physical, logical, max_def) in table {
        let c = column(name);
        assert_eq!((c.physical_type(), c.logical_type_ref().cloned(), c.max_def_level()), (physical, logical, max_def), "{name}");
    }
    assert_eq!(schema.num_columns(), 20);
    let rows: Vec<::parquet::record::Row> = reader.get_row_iter(None).unwrap().map(Result::unwrap).collect();
    let at = |name: &str| (0..schema.num_columns()).find(|&i| schema.column(i).name() == name).unwrap();
    assert_eq!(rows[0].get_double(at("on_topic")).unwrap(), 0.8123);
    assert_eq!(rows[0].get_string(at("topics")).unwrap(), "encryption;interception");
    assert_eq!(rows[0].get_string(at("text")).unwrap(), "Keep \"end-to-end\" encryption,\nplease.");
    assert_eq!(rows[0].get_long(at("n_words")).unwrap(), 5);
    assert_eq!(rows[1].get_string(at("topics")).unwrap(), "");
    let field = |row: usize, name: &str| rows[row].get_column_iter().nth(at(name)).unwrap().1.clone();
    assert_eq!(field(1, "top_topic"), Field::Null);
    assert_eq!(field(2, "on_topic"), Field::Null);
    assert_eq!(field(2, "topics"), Field::Null);
    assert_eq!(field(2, "n_chunks"), Field::Long(0));
    assert_eq!(field(2, "status"), Field::Str("empty".into()));
}

#[test]
fn parquet_row_groups_stream_out_one_by_one() {
    use ::parquet::file::reader::{FileReader, SerializedFileReader};
    use ::parquet::record::RowAccessor;

    let dir = tempfile::tempdir().unwrap();
    let canonical = dir.path().join("canonical.csv");
    std::fs::write(&canonical, CANONICAL).unwrap();
    let mut bytes = Vec::new();
    {
        let sink: &mut dyn Write = &mut bytes;
        let mut out = BufWriter::new(sink);
        let mut c = Canonical::open(&canonical, &ctx()).unwrap();
        parquet::write_groups(&mut c, &mut out, &ctx(), 1).unwrap();
        out.flush().unwrap();
    }
    let path = dir.path().join("out.parquet");
    std::fs::write(&path, &bytes).unwrap();
    let reader = SerializedFileReader::new(File::open(&path).unwrap()).unwrap();
    assert_eq!(reader.metadata().num_row_groups(), 3);
    let ids: Vec<String> = reader.get_row_iter(None).unwrap().map(|r| r.unwrap().get_string(0).unwrap().clone()).collect();
    assert_eq!(ids, ["s1", "s2", "s3"]);
}

#[test]
fn a_canonical_file_of_another_taxonomy_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.csv");
    std::fs::write(&path, CANONICAL).unwrap();
    let c = FormatContext { topics: vec!["encryption".into()], thresholds: vec![0.5], ..ctx() };
    let err = convert(OutputFormat::Jsonl, &path, &mut Vec::new(), &c).unwrap_err().to_string();
    assert!(err.contains("c.csv") && err.contains("label columns"), "{err}");
    let err = convert(OutputFormat::Prodigy, &path, &mut Vec::new(), &FormatContext { text_col: "body".into(), ..ctx() })
        .unwrap_err()
        .to_string();
    assert!(err.contains("no text column `body`"), "{err}");
}
