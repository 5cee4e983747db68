//! One session's attendance for the owner, on both stores: JSON with
//! totals, and a CSV download that Python's `csv` module reads back to the
//! same rows, with names holding commas, quotes, line breaks and
//! formula-leading characters (neutralised with a leading `'`). And the
//! account's meetings over all its conferences, by date, a page at a time.

mod common;

use common::{Backend, TestServer};
use conclave::store::{self, Record};
use serde_json::{json, Value};
use uuid::Uuid;

on_both_stores!(actix:
    attendance_downloads_as_csv_that_reads_back_and_cannot_run,
    reports_list_an_accounts_meetings_by_date_a_page_at_a_time,
);

const T0: i64 = 1_900_000_000_000;
const NUMBER: &str = "+441234567123";

/// What a spreadsheet-safe CSV field holds for `raw`.
fn neutral(raw: &str) -> String {
    if raw.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{raw}")
    } else {
        raw.to_owned()
    }
}

fn stamp(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// `csv` parsed by Python's `csv` module, as rows of strings.
fn python_rows(csv: &[u8]) -> Vec<Vec<String>> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("attendance.csv");
    std::fs::write(&path, csv).unwrap();
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import csv, json, sys\n\
             with open(sys.argv[1], newline='', encoding='utf-8') as f:\n    \
             print(json.dumps(list(csv.reader(f, strict=True))))",
        ])
        .arg(&path)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

async fn attendance_downloads_as_csv_that_reads_back_and_cannot_run(b: Backend) {
    let s = TestServer::start(b).await;
    let (token, body) = s.sign_up().await;
    let t = Some(token.as_str());
    let line: Uuid = body["line"]["id"].as_str().unwrap().parse().unwrap();

    // A finished session, written as the persister writes it, whose
    // people named themselves to break a spreadsheet.
    let names = [
        "Lovelace, Ada",
        "Ada \"the\" first",
        "two\nlines\r\nthree",
        "=1+1",
        "=HYPERLINK(\"http://evil.example\",\"click\")",
        "+44 not a number",
        "-2",
        "@SUM(A1:A9)",
        "\tTabbed",
        "\rReturned",
        "Zoë 山田",
    ];
    let session = Uuid::new_v4();
    let key = conclave::secrets::SecretKey::from_hex("test", &"a5".repeat(32)).unwrap();
    let mut records = vec![Record::SessionStarted {
        session,
        conference: line,
        node: Uuid::new_v4(),
        data_key: None,
        at: T0,
    }];
    let mut expected = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let i = i as i64;
        let phone = i % 4 == 1;
        let participant = Uuid::new_v4();
        let (joined, left) = (T0 + i * 1_000, T0 + 60_000 + i * 30_500);
        let (role, reason) = if i == 0 {
            ("moderator", "room_closed")
        } else {
            ("participant", "left")
        };
        records.push(Record::Joined {
            participant,
            session,
            name: (*name).into(),
            endpoint: if phone { "phone" } else { "web" },
            phone_sealed: phone.then(|| conclave::crypto::seal(&key, NUMBER.as_bytes())),
            role,
            at: joined,
        });
        records.push(Record::Left {
            participant,
            reason,
            at: left,
        });
        expected.push(vec![
            neutral(name),
            if phone { "phone" } else { "web" }.to_owned(),
            if phone {
                neutral(NUMBER)
            } else {
                String::new()
            },
            role.to_owned(),
            stamp(joined),
            stamp(left),
            ((left - joined) / 1000).to_string(),
            reason.to_owned(),
        ]);
    }
    records.push(Record::SessionEnded {
        session,
        at: T0 + 400_000,
    });
    let beside = store::open(s.config()).await.expect("the same store opens");
    beside.write_records(&records).await.unwrap();

    // JSON, with totals.
    let base = format!("/api/v1/conferences/{line}/sessions/{session}/attendance");
    let (status, view) = s.call("GET", &base, None, t).await;
    assert_eq!(status, 200, "{view}");
    let seconds: i64 = expected.iter().map(|r| r[6].parse::<i64>().unwrap()).sum();
    assert_eq!(
        view["totals"],
        json!({"participants": 11, "web": 8, "phone": 3, "total_seconds": seconds, "total_minutes": (seconds + 59) / 60})
    );
    let seats = view["attendance"].as_array().unwrap();
    assert_eq!(seats[3]["name"], "=1+1", "JSON carries names as they are");
    assert_eq!(
        seats[1]["phone_number"], NUMBER,
        "the owner sees the full number"
    );
    assert_eq!(seats[0]["duration_secs"], 60);
    let ended: chrono::DateTime<chrono::Utc> = view["ended_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(ended.timestamp_millis(), T0 + 400_000);

    // CSV: the headers, then the rows Python reads back.
    let client = awc::Client::default();
    let mut res = client
        .get(s.url(&format!("{base}.csv")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let header = |name: &str| {
        res.headers()
            .get(name)
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(header("content-type"), "text/csv; charset=utf-8");
    let disposition = header("content-disposition");
    let filename = format!("attendance-20300317T1746Z-{session}.csv");
    assert_eq!(disposition, format!("attachment; filename=\"{filename}\""));
    assert!(filename
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.'));
    let csv = res.body().await.unwrap();
    assert!(csv.ends_with(b"\r\n"));
    let rows = python_rows(&csv);
    assert_eq!(
        rows[0],
        [
            "name",
            "endpoint",
            "number",
            "role",
            "joined_at",
            "left_at",
            "duration_secs",
            "reason"
        ]
    );
    assert_eq!(rows[1..], expected[..]);
    // No cell a spreadsheet would run.
    for cell in rows.iter().flatten() {
        assert!(
            !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
            "{cell:?}"
        );
    }

    // Someone else's conference, another conference's session, a session
    // that does not exist: the same 404.
    let (other, other_body) = s.sign_up().await;
    let other_line = other_body["line"]["id"].as_str().unwrap();
    let refused = [
        (format!("{base}.csv"), Some(other.as_str())),
        (base.clone(), Some(other.as_str())),
        (
            format!("/api/v1/conferences/{other_line}/sessions/{session}/attendance.csv"),
            Some(other.as_str()),
        ),
        (
            format!(
                "/api/v1/conferences/{line}/sessions/{}/attendance.csv",
                Uuid::new_v4()
            ),
            t,
        ),
        (
            format!("/api/v1/conferences/{line}/sessions/not-an-id/attendance"),
            t,
        ),
    ];
    for (path, who) in refused {
        let (status, body) = s.call("GET", &path, None, who).await;
        assert_eq!(
            (status, &body["code"]),
            (404, &Value::from("not_found")),
            "{path}"
        );
    }
    let (status, _) = s.call("GET", &format!("{base}.csv"), None, None).await;
    assert_eq!(status, 401);
}

/// One finished meeting of `conference` at `start`, with a web seat of 90 s
/// and, when `phone`, a phone seat of 45 s.
fn meeting(conference: Uuid, start: i64, phone: bool) -> (Uuid, Vec<Record>) {
    let session = Uuid::new_v4();
    let mut records = vec![Record::SessionStarted {
        session,
        conference,
        node: Uuid::new_v4(),
        data_key: None,
        at: start,
    }];
    for (endpoint, secs) in [("web", 90), ("phone", 45)] {
        if endpoint == "phone" && !phone {
            continue;
        }
        let participant = Uuid::new_v4();
        records.push(Record::Joined {
            participant,
            session,
            name: "Someone".into(),
            endpoint,
            phone_sealed: None,
            role: "participant",
            at: start + 1_000,
        });
        records.push(Record::Left {
            participant,
            reason: "left",
            at: start + 1_000 + secs * 1_000 + 999,
        });
    }
    records.push(Record::SessionEnded {
        session,
        at: start + 600_000,
    });
    (session, records)
}

async fn reports_list_an_accounts_meetings_by_date_a_page_at_a_time(b: Backend) {
    let s = TestServer::start(b).await;
    let (token, body) = s.sign_up().await;
    let t = Some(token.as_str());
    let line: Uuid = body["line"]["id"].as_str().unwrap().parse().unwrap();
    let (status, scheduled) = s
        .call(
            "POST",
            "/api/v1/conferences",
            Some(json!({"title": "Board", "starts_at": "2030-01-03T09:00:00Z", "ends_at": "2030-01-03T10:00:00Z"})),
            t,
        )
        .await;
    assert_eq!(status, 201, "{scheduled}");
    let board: Uuid = scheduled["id"].as_str().unwrap().parse().unwrap();
    let (_, other) = s.sign_up().await;
    let other_line: Uuid = other["line"]["id"].as_str().unwrap().parse().unwrap();

    // 2030-01-01 .. 2030-01-05 at 09:00 UTC, the board twice on the 3rd
    // (at the same minute as the line), and someone else's on the 3rd.
    let day = |d: i64| 1_893_488_400_000 + (d - 1) * 86_400_000;
    let mut records = Vec::new();
    let mut ids = std::collections::HashMap::new();
    for (name, conference, at, phone) in [
        ("d1", line, day(1), false),
        ("d2", line, day(2), true),
        ("d3-line", line, day(3), false),
        ("d3-board", board, day(3), true),
        ("d4", board, day(4), false),
        ("d5", line, day(5), false),
        ("other", other_line, day(3), false),
    ] {
        let (session, mut r) = meeting(conference, at, phone);
        ids.insert(session.to_string(), name);
        records.append(&mut r);
    }
    let beside = store::open(s.config()).await.expect("the same store opens");
    beside.write_records(&records).await.unwrap();

    // The 2nd to the 4th, two a page: newest first, the two on the 3rd in
    // a stable order, nothing of the other account's.
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut path = "/api/v1/reports/sessions?from=2030-01-02&to=2030-01-04&limit=2".to_owned();
        if let Some(a) = &after {
            path.push_str(&format!("&after={a}"));
        }
        let (status, page) = s.call("GET", &path, None, t).await;
        assert_eq!(status, 200, "{page}");
        pages += 1;
        for m in page["sessions"].as_array().unwrap() {
            seen.push(ids[m["session"].as_str().unwrap()]);
            if ids[m["session"].as_str().unwrap()] == "d3-board" {
                assert_eq!(m["title"], "Board");
                assert_eq!(m["kind"], "scheduled");
                assert_eq!(
                    m["totals"],
                    json!({"participants": 2, "web": 1, "phone": 1, "total_seconds": 135, "total_minutes": 3})
                );
            }
        }
        match page["next"].as_str() {
            Some(n) => after = Some(n.to_owned()),
            None => break,
        }
    }
    assert_eq!(pages, 2);
    assert_eq!(seen.len(), 4, "{seen:?}");
    assert_eq!(seen[0], "d4");
    assert_eq!(seen[3], "d2");
    let mut middle = seen[1..3].to_vec();
    middle.sort();
    assert_eq!(middle, ["d3-board", "d3-line"]);

    // Everything, in one page.
    let (_, all) = s.call("GET", "/api/v1/reports/sessions", None, t).await;
    assert_eq!(all["sessions"].as_array().unwrap().len(), 6, "{all}");
    assert!(all["next"].is_null());

    // Bad ranges and pages are refused; so is no one.
    for (query, field) in [
        ("from=yesterday", "from"),
        ("from=2030-01-04&to=2030-01-02", "to"),
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("after=nonsense", "after"),
    ] {
        let (status, body) = s
            .call("GET", &format!("/api/v1/reports/sessions?{query}"), None, t)
            .await;
        assert_eq!(
            (status, &body["code"]),
            (422, &Value::from("invalid_field")),
            "{query}: {body}"
        );
        assert_eq!(body["field"], field, "{query}");
    }
    let (status, _) = s.call("GET", "/api/v1/reports/sessions", None, None).await;
    assert_eq!(status, 401);
}
