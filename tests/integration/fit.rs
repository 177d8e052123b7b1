//! `parlscan fit` and heads (issue 3): a head is written with its provenance, used by classify,
//! and refused when it does not match the model or the labels.

use crate::util::{col, read_csv, stderr, Workdir};

/// Twelve short labelled speeches of our own, two per debate.
pub(crate) const TRAIN: &str = "\
id,source,text,topics,stance
t1,d1,\"End-to-end encryption must not be weakened by any backdoor the Home Office demands.\",encryption;privacy_rights,anti_powers
t2,d1,\"Messaging firms must give the police access to encrypted messages of suspected terrorists.\",encryption;tech_companies,pro_powers
t3,d2,\"The hospital waiting lists in my constituency have grown every year since 2010.\",,none
t4,d2,\"Farmers need certainty about payments after the transition period ends.\",,none
t5,d3,\"Judicial commissioners must approve every interception warrant before it takes effect.\",interception;oversight,anti_powers
t6,d3,\"Interception warrants are vital to the agencies in stopping serious crime.\",interception;national_security,pro_powers
t7,d4,\"Bus services in rural areas have been cut back to a single route on Sundays.\",,none
t8,d4,\"Will the Minister say when the schools funding formula will be published?\",,none
t9,d5,\"Live facial recognition cameras in our streets treat every passer-by as a suspect.\",physical_surveillance;privacy_rights,anti_powers
t10,d5,\"Facial recognition helped officers find a wanted man at the match on Saturday.\",physical_surveillance,pro_powers
t11,d6,\"The housing target for the county will pave over the green belt.\",,none
t12,d6,\"I pay tribute to the volunteers who kept the food bank open all winter.\",,none
";

fn fit_small_head(w: &Workdir) -> std::process::Output {
    w.write("train.csv", TRAIN);
    w.run(&["fit", "--train", "train.csv", "-o", "head.json", "--folds", "2", "--taxonomy-examples", "no", "--repeats", "2"])
}

#[test]
fn fit_writes_a_head_with_provenance_that_classify_uses() {
    let w = Workdir::new();
    let out = fit_small_head(&w);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(report.contains("label prototypes alone") && report.contains("chosen:"), "{report}");
    assert!(report.contains("stance readings on it") && report.contains("stance: the chunk average"), "{report}");
    assert!(report.contains("the best reading chosen on the other folds"), "{report}");
    let head: serde_json::Value = serde_json::from_slice(&std::fs::read(w.path("head.json")).unwrap()).unwrap();
    let p = &head["provenance"];
    assert_eq!(p["training_rows"], 12);
    assert_eq!(p["training_files"][0]["rows"], 12);
    assert_eq!(p["training_files"][0]["sha256"].as_str().unwrap().len(), 64);
    assert_eq!(p["encoder_sha256"].as_str().unwrap().len(), 64);
    assert_eq!(head["topics"].as_array().unwrap().len(), 11);
    assert!(head["settings"]["l2"].is_number());
    assert_eq!(head["listed_off_topic"], serde_json::json!([]), "no off-topic speech here carries a topic");
    // Repeated cross-validation: each variant's figures under both fold assignments, and their mean.
    assert!(report.contains("repeated over 2 fold assignments"), "{report}");
    let variant = &head["cross_validation"]["variants"][1];
    let per = variant["per_assignment"].as_array().expect("figures per fold assignment");
    assert_eq!(per.len(), 2);
    let mean = (per[0][1].as_f64().unwrap() + per[1][1].as_f64().unwrap()) / 2.0;
    assert!((variant["figures"][1].as_f64().unwrap() - mean).abs() < 1e-12, "{variant}");
    assert_eq!(head["cross_validation"]["figures"][3], "stance_accuracy");
    assert_eq!(variant["figures"].as_array().unwrap().len(), 4);

    w.write("speeches.csv", "id,text\na,Encryption backdoors would make every phone less safe.\nb,The bus timetable changes next week.\n");
    let out = w.run(&["classify", "speeches.csv", "--head", "head.json", "-o", "out.csv"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("scored with head.json"), "{}", stderr(&out));
    let (h, rows) = read_csv(&w.path("out.csv"));
    assert_eq!(rows.len(), 2);
    assert_eq!(col(&h, &rows[1], "stance"), "none", "the bus timetable is off topic");
}

#[test]
fn fit_lists_a_topic_on_off_topic_speeches_when_the_labels_do() {
    let w = Workdir::new();
    let extra = "t13,d7,\"Ofcom's codes will require age checks before children can see pornography online.\",online_safety,none\n\
                 t14,d7,\"The regulator can fine platforms that fail to remove self-harm content quickly.\",online_safety,none\n";
    w.write("train.csv", format!("{TRAIN}{extra}"));
    let out = w.run(&["fit", "--train", "train.csv", "-o", "head.json", "--folds", "2", "--taxonomy-examples", "no"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(report.contains("listed on off-topic speeches too, as the labels do: online_safety"), "{report}");
    let head: serde_json::Value = serde_json::from_slice(&std::fs::read(w.path("head.json")).unwrap()).unwrap();
    assert_eq!(head["listed_off_topic"], serde_json::json!(["online_safety"]));
    // Both such speeches share a debate, so the fold that holds it out trains without them.
    assert_eq!(head["settings"]["listed_off_topic"]["same_in_every_training_fold"], false);
}

#[test]
fn a_mismatched_head_is_refused_saying_what_differs() {
    let w = Workdir::new();
    let out = fit_small_head(&w);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let good: serde_json::Value = serde_json::from_slice(&std::fs::read(w.path("head.json")).unwrap()).unwrap();
    w.write("in.csv", "id,text\n1,Encryption matters.\n");

    let mut other_encoder = good.clone();
    other_encoder["provenance"]["encoder_sha256"] = "0".repeat(64).into();
    w.write("enc.json", other_encoder.to_string());
    let out = w.run(&["classify", "in.csv", "--head", "enc.json", "-o", "out.csv"]);
    assert_eq!(out.status.code(), Some(64));
    assert!(stderr(&out).contains("fitted on encoder weights 000000000000 but the model in use has"), "{}", stderr(&out));
    assert!(!w.path("out.csv").exists());

    let mut other_labels = good.clone();
    other_labels["topics"][0] = "cryptography".into();
    w.write("labels.json", other_labels.to_string());
    let out = w.run(&["classify", "in.csv", "--head", "labels.json", "-o", "out.csv"]);
    assert_eq!(out.status.code(), Some(64));
    let err = stderr(&out);
    assert!(err.contains("topics differ") && err.contains("cryptography") && err.contains("encryption"), "{err}");

    w.write("junk.json", "{\"format\": 1}");
    let out = w.run(&["classify", "in.csv", "--head", "junk.json"]);
    assert_eq!(out.status.code(), Some(64));
    assert!(stderr(&out).contains("not a parlscan head file"), "{}", stderr(&out));
}

#[test]
fn a_head_whose_stance_reading_needs_lexical_features_it_lacks_is_refused_naming_them() {
    let w = Workdir::new();
    let mut head: serde_json::Value =
        serde_json::from_slice(&std::fs::read(crate::util::project().join("models/heads/default.json")).unwrap()).unwrap();
    assert!(head["lexical"]["stance"].is_object(), "the default head carries a lexical stance model");
    head["stance_reading"] = serde_json::json!({"sentence_weight": 0.25, "sentences": 2, "reported_weight": 0.25, "lexical_weight": 0.3});
    w.write("ok.json", head.to_string());
    w.write("in.csv", "id,text\n1,End-to-end encryption must not be weakened by the Bill.\n");
    let out = w.run(&["classify", "in.csv", "--head", "ok.json", "-o", "ok.csv", "--quiet"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    let mut no_stance_model = head.clone();
    no_stance_model["lexical"].as_object_mut().unwrap().remove("stance");
    w.write("no-stance.json", no_stance_model.to_string());
    let out = w.run(&["classify", "in.csv", "--head", "no-stance.json", "-o", "out.csv"]);
    assert_eq!(out.status.code(), Some(64), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("no-stance.json") && err.contains("lexical stance model at weight 0.3") && err.contains("no `lexical.stance`"), "{err}");
    assert!(!w.path("out.csv").exists());

    let mut no_lexical = head.clone();
    no_lexical["lexical"] = serde_json::Value::Null;
    w.write("no-lexical.json", no_lexical.to_string());
    let out = w.run(&["classify", "in.csv", "--head", "no-lexical.json", "-o", "out.csv"]);
    assert_eq!(out.status.code(), Some(64));
    assert!(stderr(&out).contains("carries no lexical features"), "{}", stderr(&out));

    let mut narrow = head.clone();
    narrow["lexical"]["stance"]["weights"][0].as_array_mut().unwrap().pop();
    w.write("narrow.json", narrow.to_string());
    let out = w.run(&["classify", "in.csv", "--head", "narrow.json", "-o", "out.csv"]);
    assert_eq!(out.status.code(), Some(64));
    assert!(stderr(&out).contains("does not fit its features"), "{}", stderr(&out));

    // A sentence stance model that does not fit the head's features: refused.
    let width = head["feature_mean"].as_array().unwrap().len();
    let mut narrow_sentences = head.clone();
    narrow_sentences["sentence_stance"] = serde_json::json!({
        "feature_mean": vec![0.0; width - 1],
        "feature_scale": vec![1.0; width - 1],
        "model": {"weights": vec![vec![0.0; width - 1]; 4], "bias": vec![0.0; 4]},
    });
    w.write("narrow-sentences.json", narrow_sentences.to_string());
    let out = w.run(&["classify", "in.csv", "--head", "narrow-sentences.json", "-o", "out.csv"]);
    assert_eq!(out.status.code(), Some(64));
    assert!(stderr(&out).contains("its sentence stance model does not fit its features"), "{}", stderr(&out));
    assert!(!w.path("out.csv").exists());

    // A stance model over its own terms, stripped of them, would read the topic terms: refused.
    assert!(head["lexical"]["stance_vocabulary"]["terms"].is_array(), "the default stance model has its own terms");
    let mut no_vocabulary = head.clone();
    no_vocabulary["lexical"].as_object_mut().unwrap().remove("stance_vocabulary");
    w.write("no-vocabulary.json", no_vocabulary.to_string());
    let out = w.run(&["classify", "in.csv", "--head", "no-vocabulary.json", "-o", "out.csv"]);
    assert_eq!(out.status.code(), Some(64));
    assert!(stderr(&out).contains("does not fit its features") && stderr(&out).contains("(the lexical terms)"), "{}", stderr(&out));

    // A head from before stance readings (no reading, no lexical stance model) reads stance as the
    // chunk average, as it always did.
    let mut old = head.clone();
    old.as_object_mut().unwrap().remove("stance_reading");
    old["lexical"].as_object_mut().unwrap().remove("stance");
    w.write("old.json", old.to_string());
    let out = w.run(&["classify", "in.csv", "--head", "old.json", "-o", "old.csv", "--quiet"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn fit_refuses_unknown_labels_naming_the_line() {
    let w = Workdir::new();
    w.write("train.csv", "id,source,text,topics,stance\n1,d,hello,cryptography,anti_powers\n");
    let out = w.run(&["fit", "--train", "train.csv", "-o", "head.json"]);
    assert_eq!(out.status.code(), Some(65));
    assert!(stderr(&out).contains("line 2: topic `cryptography` is not in the taxonomy"), "{}", stderr(&out));
    assert!(!w.path("head.json").exists());
}

#[test]
fn a_labels_column_says_which_labels_an_example_teaches_and_a_bad_one_is_refused_naming_the_line() {
    let taxonomy = parlscan::taxonomy::Taxonomy::load(&crate::util::project().join("data/taxonomy.toml")).unwrap();
    let w = Workdir::new();
    let examples = "id,source,text,topics,stance,labels\n\
                    e1,x,\"Interception warrants save lives.\",interception,pro_powers,stance\n\
                    e2,x,\"Bus routes were cut.\",,none,on_topic\n\
                    e3,x,\"The encryption debate goes on.\",encryption,neutral,topics\n\
                    e4,x,\"Oversight must be strengthened.\",oversight,anti_powers,topics;on_topic;stance\n\
                    e5,x,\"Warrants need a judge.\",oversight,anti_powers,\n";
    let rows = parlscan::fit::read_training(&w.write("examples.csv", examples), "text", "source", &taxonomy).unwrap();
    let taught: Vec<(bool, Option<bool>, Option<usize>)> = rows.iter().map(|e| (e.topics.is_some(), e.on_topic, e.stance)).collect();
    assert_eq!(
        taught,
        [(false, None, Some(0)), (false, Some(false), None), (true, None, None), (true, Some(true), Some(1)), (true, Some(true), Some(1))]
    );
    // Such rows train heads (each only the heads of what it teaches) ...
    w.write("train.csv", TRAIN);
    let ok = w.run(&["fit", "--train", "train.csv", "--examples", "examples.csv", "-o", "head.json", "--folds", "2", "--repeats", "1"]);
    assert_eq!(ok.status.code(), Some(0), "{}", stderr(&ok));
    // ... but a scored speech needs all its labels, and a name outside the list is refused.
    let partial: String = TRAIN
        .lines()
        .enumerate()
        .map(|(i, line)| format!("{line},{}\n", ["labels", "stance"].get(i).unwrap_or(&"")))
        .collect();
    w.write("partial.csv", partial);
    let out = w.run(&["fit", "--train", "partial.csv", "-o", "partial.json"]);
    assert_eq!(out.status.code(), Some(65), "{}", stderr(&out));
    assert!(stderr(&out).contains("leaves labels out of 1 row(s)") && stderr(&out).contains("--examples"), "{}", stderr(&out));
    w.write("bad.csv", examples.replace("neutral,topics", "neutral,stances"));
    let out = w.run(&["fit", "--train", "train.csv", "--examples", "bad.csv", "-o", "bad.json"]);
    assert_eq!(out.status.code(), Some(65), "{}", stderr(&out));
    assert!(stderr(&out).contains("line 4: labels `stances` is not one of topics, on_topic, stance"), "{}", stderr(&out));
    assert!(!w.path("partial.json").exists() && !w.path("bad.json").exists());
}

/// A one-sentence speech and a multi-sentence one, on several topics.
const ONE_AND_MANY_SENTENCES: &str = "id,text\n\
     one,\"Judicial commissioners must approve every interception warrant before it takes effect.\"\n\
     many,\"I thank the Minister for his statement. Judicial commissioners must approve every interception warrant. \
     The housing target for the county will pave over the green belt. End-to-end encryption must not be weakened.\"\n";

#[test]
fn the_default_heads_sentence_weight_changes_topic_scores_of_multi_sentence_speeches_only() {
    let w = Workdir::new();
    let head: serde_json::Value =
        serde_json::from_slice(&std::fs::read(crate::util::project().join("models/heads/default.json")).unwrap()).unwrap();
    let weight = head["sentence_weight"].as_f64().expect("the default head records its sentence weight");
    assert!(weight > 0.0, "cross-validation kept sentence-level scoring for the default head");
    let mut chunk_only = head.clone();
    chunk_only["sentence_weight"] = serde_json::json!(0.0);
    w.write("chunk-only.json", serde_json::to_vec(&chunk_only).unwrap());
    w.write("in.csv", ONE_AND_MANY_SENTENCES);
    let mixed = w.run(&["classify", "in.csv", "-o", "mixed.csv", "--quiet"]);
    let plain = w.run(&["classify", "in.csv", "-o", "plain.csv", "--head", "chunk-only.json", "--quiet"]);
    assert_eq!((mixed.status.code(), plain.status.code()), (Some(0), Some(0)), "{}{}", stderr(&mixed), stderr(&plain));
    let (h, a) = read_csv(&w.path("mixed.csv"));
    let (_, b) = read_csv(&w.path("plain.csv"));
    let topic = |r: &Vec<String>| col(&h, r, "topic_encryption").to_string();
    assert_eq!(topic(&a[0]), topic(&b[0]), "a one-sentence speech is its own sentence");
    assert_ne!(topic(&a[1]), topic(&b[1]), "sentences mix into a multi-sentence speech's topic scores");
    assert_eq!(col(&h, &a[1], "on_topic"), col(&h, &b[1], "on_topic"), "on_topic stays chunk-level");
}

#[test]
fn a_head_that_embeds_sentences_alone_scores_them_alone() {
    let w = Workdir::new();
    let mut head: serde_json::Value =
        serde_json::from_slice(&std::fs::read(crate::util::project().join("models/heads/default.json")).unwrap()).unwrap();
    assert!(head["sentence_weight"].as_f64().unwrap() > 0.0);
    head["sentence_embedding"] = serde_json::json!("context");
    w.write("context.json", serde_json::to_vec(&head).unwrap());
    head["sentence_embedding"] = serde_json::json!("alone");
    w.write("alone.json", serde_json::to_vec(&head).unwrap());
    w.write("in.csv", ONE_AND_MANY_SENTENCES);
    let context = w.run(&["classify", "in.csv", "-o", "context.csv", "--head", "context.json", "--quiet"]);
    let alone = w.run(&["classify", "in.csv", "-o", "alone.csv", "--head", "alone.json", "--quiet"]);
    assert_eq!((context.status.code(), alone.status.code()), (Some(0), Some(0)), "{}{}", stderr(&context), stderr(&alone));
    let (h, a) = read_csv(&w.path("context.csv"));
    let (_, b) = read_csv(&w.path("alone.csv"));
    let topic = |r: &Vec<String>| col(&h, r, "topic_encryption").to_string();
    assert_eq!(topic(&a[0]), topic(&b[0]), "a one-sentence speech has no sentence scores to mix");
    assert_ne!(topic(&a[1]), topic(&b[1]), "sentences embedded alone score differently from sentences in context");
    assert_eq!(col(&h, &a[1], "on_topic"), col(&h, &b[1], "on_topic"), "the chunk itself is embedded the same way");
}

#[test]
fn the_default_heads_lexical_models_move_topic_scores_only_and_its_listing_rules_list_what_they_say() {
    let w = Workdir::new();
    let head: serde_json::Value =
        serde_json::from_slice(&std::fs::read(crate::util::project().join("models/heads/default.json")).unwrap()).unwrap();
    let weight = head["lexical"]["weight"].as_f64().expect("the default head carries lexical topic models");
    assert!(weight > 0.0 && head["lexical"]["terms"].as_array().unwrap().len() > 1000);
    // Stance read as the chunk average (as heads before stance readings read it), so that only
    // the lexical topic models differ between the first two heads.
    let mut head = head.clone();
    head["stance_reading"] = serde_json::Value::Null;
    w.write("topics.json", serde_json::to_vec(&head).unwrap());
    let mut plain = head.clone();
    plain["lexical"] = serde_json::Value::Null;
    plain["at_least_one_topic"] = serde_json::json!(false);
    plain["min_topics"] = serde_json::json!(0);
    plain["listed_off_topic"] = serde_json::json!([]);
    w.write("plain.json", serde_json::to_vec(&plain).unwrap());
    // Thresholds no topic reaches: only the minimum number of topics lists anything.
    let with_thresholds = |threshold: f64| {
        let mut head = plain.clone();
        for t in head["topic_heads"].as_array_mut().unwrap() {
            t["threshold"] = serde_json::json!(threshold);
        }
        head
    };
    let mut strict = with_thresholds(1.0);
    w.write("strict.json", serde_json::to_vec(&strict).unwrap());
    strict["at_least_one_topic"] = serde_json::json!(true);
    w.write("strict-one.json", serde_json::to_vec(&strict).unwrap());
    strict["min_topics"] = serde_json::json!(2);
    w.write("strict-two.json", serde_json::to_vec(&strict).unwrap());
    // Thresholds every topic reaches, on an off-topic speech: only topics listed off topic show.
    let mut open = with_thresholds(0.0);
    open["min_topics"] = serde_json::json!(2);
    w.write("open.json", serde_json::to_vec(&open).unwrap());
    open["listed_off_topic"] = serde_json::json!(["online_safety"]);
    w.write("open-off.json", serde_json::to_vec(&open).unwrap());
    w.write("in.csv", ONE_AND_MANY_SENTENCES);
    w.write("off.csv", "id,text\nbus,The bus timetable for the county changes next week.\n");
    let runs: Vec<_> = ["topics.json", "plain.json", "strict.json", "strict-one.json", "strict-two.json", "open.json", "open-off.json"]
        .iter()
        .map(|head| {
            let name = format!("{}.csv", head.trim_end_matches(".json"));
            let input = if head.starts_with("open") { "off.csv" } else { "in.csv" };
            let out = w.run(&["classify", input, "-o", &name, "--quiet", "--head", head]);
            assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
            read_csv(&w.path(&name))
        })
        .collect();
    let (h, with) = &runs[0];
    let (_, without) = &runs[1];
    for (a, b) in with.iter().zip(without) {
        assert_ne!(col(h, a, "topic_encryption"), col(h, b, "topic_encryption"), "lexical scores mix into topic scores");
        assert_eq!(col(h, a, "on_topic"), col(h, b, "on_topic"), "and into nothing else");
        assert_eq!(col(h, a, "stance"), col(h, b, "stance"));
    }
    let (_, strict) = &runs[2];
    let (_, one) = &runs[3];
    let (_, two) = &runs[4];
    for ((a, b), c) in strict.iter().zip(one).zip(two) {
        assert_eq!(col(h, a, "topics"), "", "no topic reaches a threshold of 1");
        assert_ne!(col(h, a, "stance"), "none", "both speeches are on topic");
        let listed = col(h, b, "topics");
        assert!(!listed.is_empty() && !listed.contains(';'), "exactly the strongest topic: {listed:?}");
        assert_eq!(col(h, b, "top_topic"), listed);
        let listed_two: Vec<&str> = col(h, c, "topics").split(';').collect();
        assert_eq!((listed_two.len(), listed_two[0]), (2, listed), "the two strongest topics");
        let score = |t: &str| col(h, c, &format!("topic_{t}")).parse::<f64>().unwrap();
        assert!(score(listed_two[0]) >= score(listed_two[1]));
    }
    let (_, open) = &runs[5];
    let (_, open_off) = &runs[6];
    assert_eq!((col(h, &open[0], "stance"), col(h, &open[0], "topics")), ("none", ""), "off topic: no topic, however low the thresholds");
    assert_eq!((col(h, &open_off[0], "stance"), col(h, &open_off[0], "topics")), ("none", "online_safety"));
}

/// `fit`'s cross-validation scores a held-out row with `fit::cv::score_example` and
/// `fit::cv::with_lexical`, and reads its stance with `fit::cv::with_stance`; `classify` scores a
/// speech through `Labeller`. Both finish chunks with `score::finish_chunk` and read stance with
/// `score::stance::apply`. Under the same head (the default one) and the same engine (libtorch
/// fp32), a row's scores must be the same either way: what cross-validation measures is what
/// `classify` does.
#[test]
fn fits_out_of_fold_scoring_of_a_row_equals_classifys_scores_under_the_same_head() {
    use parlscan::aggregate::{self, Listing};
    use parlscan::fit::cv::{score_example, score_sentences, with_lexical, with_stance};
    use parlscan::score::lexical::stance_terms;
    use parlscan::fit::data::{chunk_features, read_training};
    use parlscan::score::head::{apply, standardise, HeadFile, SentenceStance};
    use parlscan::score::linear::Multinomial;
    use parlscan::score::prototypes::Prototypes;
    use parlscan::score::stance::{Pool, StanceReading};
    use parlscan::score::SentenceEmbedding;

    let project = crate::util::project();
    let model = crate::util::model_dir();
    let taxonomy = parlscan::taxonomy::Taxonomy::load(&project.join("data/taxonomy.toml")).unwrap();
    let head = HeadFile::load(&project.join("models/heads/default.json")).unwrap();
    assert!(head.sentence_weight > 0.0 && head.lexical.is_some(), "the default head mixes sentences and lexical scores");
    let w = Workdir::new();
    // Speeches of several sentences, one with a quotation, so that a sentence pool has something to pool.
    let many = "t13,d7,\"\"\"The agencies must be able to read the messages of terrorists,\"\" the Minister told us. I say that end-to-end \
                encryption keeps every one of us safe. Judicial commissioners must approve every warrant.\",encryption;oversight,anti_powers\n\
                t14,d7,\"We are told that bulk interception is a fishing expedition. It is not. It found the plot that would have killed \
                hundreds, and the agencies need it.\",bulk_powers;interception,pro_powers\n";
    w.write("train.csv", format!("{TRAIN}{many}"));
    let examples = read_training(&w.path("train.csv"), "text", "source", &taxonomy).unwrap();
    // The default head's reading, and one that pools sentences too.
    let reading = head.stance_reading.expect("the default head has a stance reading");
    assert!(reading.lexical_weight > 0.0 && head.lexical.as_ref().unwrap().stance.is_some());
    let pooled = StanceReading { sentence_weight: 0.5, sentences: 2, reported_weight: 0.25, pool: Pool::Geometric, ..reading };
    let pooled_head = HeadFile { stance_reading: Some(pooled), sentence_stance: None, ..head.clone() };
    pooled_head.save(&w.path("pooled.json")).unwrap();
    // The same reading with a sentence stance model that differs from the chunk model (its classes
    // reversed), so that a side which scored sentences with the chunk model would differ.
    let reversed = |v: &[Vec<f64>]| v.iter().rev().cloned().collect::<Vec<_>>();
    let sentence_stance = SentenceStance {
        feature_mean: head.feature_mean.clone(),
        feature_scale: head.feature_scale.clone(),
        model: Multinomial { weights: reversed(&head.stance.weights), bias: head.stance.bias.iter().rev().copied().collect() },
    };
    let sentence_head = HeadFile { sentence_stance: Some(sentence_stance), ..pooled_head.clone() };
    sentence_head.save(&w.path("sentences.json")).unwrap();

    // fit's side: feature rows as fit embeds them, scored as cross-validation scores a held-out row.
    let words = parlscan::tokenize::WordPieces::load(&model).unwrap();
    let encoder = parlscan::encoder::bert::BertEncoder::load(&model, tch::Device::Cpu).unwrap();
    let prototypes = Prototypes::build(&taxonomy, &words, &encoder, None).unwrap();
    let alone = head.sentence_embedding == SentenceEmbedding::Alone;
    let features = chunk_features(&examples, &words, &encoder, &prototypes, alone).unwrap();
    assert!(features.iter().any(|f| f.reported.iter().flatten().any(|&r| r)), "a reported sentence");
    let score = |row: &[f64]| {
        let mut x = row.to_vec();
        standardise(&mut x, &head.feature_mean, &head.feature_scale);
        apply(&x, &head.on_topic, head.topic_heads.iter().map(|t| &t.model), &head.stance)
    };
    let oof: Vec<_> = features.iter().enumerate().map(|(i, f)| (i, score_example(&score, f, head.sentence_embedding, head.sentence_weight))).collect();
    let lex = head.lexical.as_ref().unwrap();
    let probs: Vec<Option<Vec<f64>>> = examples.iter().map(|e| Some(lex.probs(&e.text))).collect();
    let oof = with_lexical(&oof, &probs, lex.weight);
    // A sentence's scores, with its stance from the head's sentence stance model where it has one.
    let sentences_under = |h: &HeadFile| -> Vec<_> {
        let score = |row: &[f64]| {
            let mut s = score(row);
            if let Some(m) = &h.sentence_stance {
                s.stance = m.probs(row);
            }
            s
        };
        features.iter().enumerate().map(|(i, f)| (i, score_sentences(&score, f, head.sentence_embedding))).collect()
    };
    let lexical_stance: Vec<Option<Vec<f64>>> = examples.iter().map(|e| lex.stance_of_terms(&stance_terms(&e.text))).collect();
    let thresholds: Vec<f64> = head.topic_heads.iter().map(|t| t.threshold).collect();
    let listing = Listing::of_head(&head);

    for (h, head_arg) in [(&head, None), (&pooled_head, Some("pooled.json")), (&sentence_head, Some("sentences.json"))] {
        let reading = h.stance_reading.expect("a reading");
        let oof = with_stance(&oof, &sentences_under(h), &features, Some(&lexical_stance), &reading);
        // classify's side, on the same engine.
        let mut args = vec!["classify", "train.csv", "-o", "out.csv", "--engine", "torch", "--threads", "1", "--quiet"];
        args.extend(head_arg.map(|h| ["--head", h]).into_iter().flatten());
        let out = w.run(&args);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let (h, rows) = read_csv(&w.path("out.csv"));
        assert_eq!(rows.len(), examples.len());
        for ((i, chunks), row) in oof.iter().zip(&rows) {
            let s = aggregate::speech(chunks, &thresholds, head.on_topic_threshold, &listing);
            let close = |name: &str, v: f64| {
                let c: f64 = col(&h, row, name).parse().unwrap();
                assert!((c - v).abs() <= 6e-5, "{head_arg:?}, row {i}, {name}: classify {c}, fit's scoring {v}");
            };
            close("on_topic", s.on_topic);
            for (t, topic) in head.topics.iter().enumerate() {
                close(&format!("topic_{topic}"), s.topics[t]);
            }
            close("stance_score", s.stance[0] - s.stance[1]);
            for (k, class) in ["pro_powers", "anti_powers", "mixed", "neutral"].iter().enumerate() {
                close(&format!("stance_{class}"), s.stance[k]);
            }
            let names: Vec<&str> = head.topics.iter().map(String::as_str).collect();
            let listed: Vec<&str> = s.listed.iter().map(|&t| names[t]).collect();
            assert_eq!(col(&h, row, "topics"), listed.join(";"), "{head_arg:?}, row {i}: topics");
        }
    }
}
