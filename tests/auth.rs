//! Bearer tokens at the door, against the real binary with keys made in
//! the test: the operator requires a token for `my_new_module` and the
//! `admin` role for `user_management`; `wallet` needs a token of its own. Every way a
//! token can be wrong is a 401 with `WWW-Authenticate: Bearer` and a JSON
//! reason, a missing role a 403, and the module never runs for either.

mod support;

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{EncodePrivateKey, EncodePublicKey};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};
use support::{HttpResponse, Modhost, module_table, run_modhost, temp_dir, write_config};

const ISSUER: &str = "https://id.example.test";
const AUDIENCE: &str = "modhost-test";
/// Two HS256 secrets in rotation, by `kid`.
const OLD_SECRET: &str = "an-old-secret-of-at-least-thirty-two-bytes";
const NEW_SECRET: &str = "a-new-secret-of-at-least-thirty-two-bytes!";

/// The keys of one test: HS256 secrets in files, an Ed25519 pair.
struct Keys {
    dir: tempfile::TempDir,
    ed_private_pem: String,
    ed_public_pem: String,
}

impl Keys {
    fn make() -> Keys {
        let dir = temp_dir();
        std::fs::write(dir.path().join("old.secret"), OLD_SECRET).unwrap();
        std::fs::write(dir.path().join("new.secret"), format!("{NEW_SECRET}\n")).unwrap();
        // Made here, fresh for each run (from the clock: a test key needs no
        // secrecy, only to be this run's own).
        let seed = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let mut bytes = [0u8; 32];
        bytes[..16].copy_from_slice(&seed.to_le_bytes());
        let signing = SigningKey::from_bytes(&bytes);
        let ed_private_pem = signing.to_pkcs8_pem(LineEnding::LF).unwrap().to_string();
        let ed_public_pem = signing
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap();
        std::fs::write(dir.path().join("ed.pub.pem"), &ed_public_pem).unwrap();
        Keys {
            dir,
            ed_private_pem,
            ed_public_pem,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// `[auth]` with the test's keys.
fn auth_section(keys: &Keys) -> String {
    auth_section_with_leeway(keys, 5)
}

/// `[auth]` with the test's keys and `leeway` seconds of clock skew.
fn auth_section_with_leeway(keys: &Keys, leeway: u64) -> String {
    format!(
        "[auth]\nissuer = {ISSUER:?}\naudience = {AUDIENCE:?}\nleeway_seconds = {leeway}\n\
         [[auth.keys]]\nkid = \"old\"\nalgorithm = \"HS256\"\nsecret_file = {:?}\n\
         [[auth.keys]]\nkid = \"new\"\nalgorithm = \"HS256\"\nsecret_file = {:?}\n\
         [[auth.keys]]\nkid = \"ed\"\nalgorithm = \"EdDSA\"\npublic_key_file = {:?}\n",
        keys.path("old.secret"),
        keys.path("new.secret"),
        keys.path("ed.pub.pem"),
    )
}

fn deployment(keys: &Keys) -> String {
    format!(
        "{}{}[modules.my_new_module.auth]\nrequired = true\n{}[modules.user_management.config]\nusers = [{{ id = \"u1\", name = \"Ada\", email = \"ada@example.com\" }}]\n[modules.user_management.auth]\nrequired = true\nroles = [\"admin\"]\n{}",
        auth_section(keys),
        module_table("my_new_module"),
        module_table("user_management"),
        module_table("wallet"),
    )
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Valid claims for `sub`, changed by `edit`.
fn claims(edit: impl FnOnce(&mut Value)) -> Value {
    let mut claims = json!({
        "sub": "u1", "iss": ISSUER, "aud": AUDIENCE,
        "iat": now(), "exp": now() + 600, "roles": ["user"],
    });
    edit(&mut claims);
    claims
}

fn hs256(kid: &str, secret: &str, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(kid.into());
    encode(
        &header,
        claims,
        &EncodingKey::from_secret(secret.as_bytes()).unwrap(),
    )
    .unwrap()
}

fn eddsa(keys: &Keys, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some("ed".into());
    let key = EncodingKey::from_ed_pem(keys.ed_private_pem.as_bytes()).unwrap();
    encode(&header, claims, &key).unwrap()
}

fn base64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn get_as(modhost: &Modhost, path: &str, token: &str) -> HttpResponse {
    let bearer = format!("Bearer {token}");
    modhost.request("GET", path, &[("authorization", &bearer)], b"")
}

/// A 401 whose JSON error and challenge say `why`.
fn refused(response: &HttpResponse, why: &str) {
    response.expect_error(401, why);
    let challenge = response.header("www-authenticate").unwrap_or_default();
    assert!(challenge.starts_with("Bearer"), "challenge {challenge:?}");
}

/// Sends `GET /my-module/info` (a module whose routes the operator
/// protects) with `authorization` when given, to a fresh runtime with the
/// test's keys, and checks the 401: `WWW-Authenticate: Bearer`, the JSON
/// reason naming `why`.
fn refused_at_the_door(authorization: impl FnOnce(&Keys) -> Option<String>, why: &str) {
    let keys = Keys::make();
    let modhost = Modhost::start(&deployment(&keys));
    let headers: Vec<(&str, String)> = authorization(&keys)
        .map(|value| vec![("authorization", value)])
        .unwrap_or_default();
    let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let response = modhost.request("GET", "/my-module/info", &headers, b"");
    refused(&response, why);
    let challenge = response.header("www-authenticate").unwrap();
    if headers.is_empty() {
        assert_eq!(challenge, "Bearer", "no token sent: a bare challenge");
    } else if why != "no bearer token" {
        assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    }
}

/// A bearer header for an HS256 token with the new key and `edit`ed claims.
fn bearer_with(edit: impl FnOnce(&mut Value)) -> impl FnOnce(&Keys) -> Option<String> {
    let token = hs256("new", NEW_SECRET, &claims(edit));
    move |_| Some(format!("Bearer {token}"))
}

#[test]
fn no_token_is_a_401_with_a_bare_challenge() {
    refused_at_the_door(|_| None, "no bearer token");
}

#[test]
fn another_scheme_than_bearer_is_a_401() {
    refused_at_the_door(|_| Some("Basic dTE6cHc=".into()), "no bearer token");
}

#[test]
fn a_malformed_token_is_a_401() {
    refused_at_the_door(|_| Some("Bearer not.a.token".into()), "malformed");
    refused_at_the_door(|_| Some("Bearer garbage".into()), "malformed");
}

#[test]
fn an_expired_token_is_a_401() {
    refused_at_the_door(bearer_with(|c| c["exp"] = json!(now() - 60)), "expired");
}

#[test]
fn a_token_not_valid_yet_is_a_401() {
    refused_at_the_door(
        bearer_with(|c| c["nbf"] = json!(now() + 600)),
        "not valid yet",
    );
}

#[test]
fn a_wrongly_signed_token_is_a_401() {
    let forged = hs256(
        "new",
        "someone-elses-secret-of-thirty-two-bytes",
        &claims(|_| {}),
    );
    refused_at_the_door(|_| Some(format!("Bearer {forged}")), "signature");
}

#[test]
fn a_token_of_another_issuer_is_a_401() {
    refused_at_the_door(
        bearer_with(|c| c["iss"] = json!("https://evil.example")),
        "issuer",
    );
}

#[test]
fn a_token_for_another_audience_is_a_401() {
    refused_at_the_door(
        bearer_with(|c| c["aud"] = json!("another-host")),
        "audience",
    );
}

#[test]
fn a_token_without_a_subject_is_a_401() {
    let no_subject = |c: &mut Value| {
        c.as_object_mut().unwrap().remove("sub");
    };
    refused_at_the_door(bearer_with(no_subject), "sub");
}

#[test]
fn a_token_naming_an_unknown_key_is_a_401() {
    let token = hs256("retired", NEW_SECRET, &claims(|_| {}));
    refused_at_the_door(|_| Some(format!("Bearer {token}")), "key id");
}

#[test]
fn a_missing_role_is_a_403_and_a_refused_request_reaches_no_module() {
    let keys = Keys::make();
    let modhost = Modhost::start(&deployment(&keys));
    let good = hs256("new", NEW_SECRET, &claims(|_| {}));
    let forged = hs256(
        "new",
        "someone-elses-secret-of-thirty-two-bytes",
        &claims(|_| {}),
    );

    // Valid, but user_management wants the admin role.
    get_as(&modhost, "/users/u1", &good).expect_error(403, "admin");
    let admin = hs256(
        "new",
        NEW_SECRET,
        &claims(|c| c["roles"] = json!(["user", "admin"])),
    );
    get_as(&modhost, "/users/u1", &admin).expect_status(200);
    // wallet lets u1 in, but it cannot relay a client to the protected
    // user_management: module calls carry no token.
    let relayed = get_as(&modhost, "/wallet/u1", &good);
    assert_ne!(
        relayed.status,
        200,
        "{}",
        String::from_utf8_lossy(&relayed.body)
    );
    assert!(!String::from_utf8_lossy(&relayed.body).contains("Ada"));
    let said = String::from_utf8_lossy(&relayed.body).into_owned();
    assert!(
        said.contains("needs a bearer token, and module calls carry none"),
        "{said}"
    );

    // A refused request never reaches the module: nothing was stored.
    let record = json!({"name": "sneaked"});
    let bad = format!("Bearer {forged}");
    let headers = [
        ("content-type", "application/json"),
        ("authorization", bad.as_str()),
    ];
    let post = modhost.request(
        "POST",
        "/my-module/data",
        &headers,
        record.to_string().as_bytes(),
    );
    refused(&post, "signature");
    refused(
        &modhost.post_json("/my-module/data", &record),
        "no bearer token",
    );
    let stored = get_as(&modhost, "/my-module/data", &good);
    assert_eq!(stored.expect_status(200).json()["count"], 0);
}

#[test]
fn unsigned_tokens_and_algorithm_confusion_are_refused() {
    let keys = Keys::make();
    let modhost = Modhost::start(&deployment(&keys));
    let info = "/my-module/info";
    // alg "none", no signature.
    let head = base64url(br#"{"alg":"none","typ":"JWT"}"#);
    let body = base64url(claims(|_| {}).to_string().as_bytes());
    refused(
        &get_as(&modhost, info, &format!("{head}.{body}.")),
        "malformed",
    );
    // An HS256 token whose secret is the Ed25519 public key (which anyone
    // has), under the Ed25519 key's kid: the key checks EdDSA only.
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("ed".into());
    let confused = encode(
        &header,
        &claims(|_| {}),
        &EncodingKey::from_secret(keys.ed_public_pem.as_bytes()).unwrap(),
    )
    .unwrap();
    refused(&get_as(&modhost, info, &confused), "algorithm");
    // The same without a kid: no HS256 key has that secret.
    let unnamed = encode(
        &Header::new(Algorithm::HS256),
        &claims(|_| {}),
        &EncodingKey::from_secret(keys.ed_public_pem.as_bytes()).unwrap(),
    )
    .unwrap();
    refused(&get_as(&modhost, info, &unnamed), "signature");
    // The real Ed25519 token passes.
    get_as(&modhost, info, &eddsa(&keys, &claims(|_| {}))).expect_status(200);
}

#[test]
fn keys_rotate_by_kid() {
    let keys = Keys::make();
    let modhost = Modhost::start(&deployment(&keys));
    let info = "/my-module/info";
    for (kid, secret) in [("old", OLD_SECRET), ("new", NEW_SECRET)] {
        get_as(&modhost, info, &hs256(kid, secret, &claims(|_| {}))).expect_status(200);
    }
    // Without a kid, every key of the token's algorithm is tried.
    for secret in [OLD_SECRET, NEW_SECRET] {
        let key = EncodingKey::from_secret(secret.as_bytes()).unwrap();
        let unnamed = encode(&Header::new(Algorithm::HS256), &claims(|_| {}), &key).unwrap();
        get_as(&modhost, info, &unnamed).expect_status(200);
    }
    // A kid names one key: the old secret under the new kid is forged.
    refused(
        &get_as(&modhost, info, &hs256("new", OLD_SECRET, &claims(|_| {}))),
        "signature",
    );
}

/// An ES256 key made from `seed` (any 32 bytes below the curve's order):
/// its private key in PKCS#8 PEM and its public key in PEM.
fn es256_pair(seed: u8) -> (String, String) {
    use p256::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding as P256LineEnding};
    let secret = p256::SecretKey::from_slice(&[seed; 32]).unwrap();
    let private = secret.to_pkcs8_pem(P256LineEnding::LF).unwrap().to_string();
    let public = secret
        .public_key()
        .to_public_key_pem(P256LineEnding::LF)
        .unwrap();
    (private, public)
}

/// An ES256 token signed with `private_pem`, kid `ec`.
fn es256(private_pem: &str, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some("ec".into());
    let key = EncodingKey::from_ec_pem(private_pem.as_bytes()).unwrap();
    encode(&header, claims, &key).unwrap()
}

#[test]
fn es256_tokens_are_checked_with_their_public_key() {
    let dir = temp_dir();
    let (private, public) = es256_pair(7);
    let (other_private, _) = es256_pair(9);
    std::fs::write(dir.path().join("ec.pub.pem"), public).unwrap();
    let config = format!(
        "[auth]\nissuer = {ISSUER:?}\naudience = {AUDIENCE:?}\n\
         [[auth.keys]]\nkid = \"ec\"\nalgorithm = \"ES256\"\npublic_key_file = {:?}\n{}[modules.my_new_module.auth]\nrequired = true\n",
        dir.path().join("ec.pub.pem"),
        module_table("my_new_module"),
    );
    let modhost = Modhost::start(&config);
    let info = "/my-module/info";
    get_as(&modhost, info, &es256(&private, &claims(|_| {}))).expect_status(200);
    refused(
        &get_as(&modhost, info, &es256(&other_private, &claims(|_| {}))),
        "signature",
    );
    let expired = claims(|c| c["exp"] = json!(now() - 600));
    refused(
        &get_as(&modhost, info, &es256(&private, &expired)),
        "expired",
    );
}

/// Start-up refuses a key it cannot use, naming the file, the key and the
/// fix, before any module is compiled.
#[test]
fn key_mistakes_stop_the_start_naming_the_key() {
    let keys = Keys::make();
    let dir = temp_dir();
    let cases = [
        (
            "[[auth.keys]]\nalgorithm = \"HS256\"\nsecret_env = \"MODHOST_TEST_UNSET_SECRET\"\n"
                .to_string(),
            "auth.keys[0]: secret_env names the environment variable MODHOST_TEST_UNSET_SECRET, which is not set",
        ),
        (
            format!(
                "[[auth.keys]]\nalgorithm = \"EdDSA\"\npublic_key_file = {:?}\n",
                keys.path("missing.pem")
            ),
            "auth.keys[0]: cannot read public_key_file",
        ),
        (
            format!(
                "[[auth.keys]]\nalgorithm = \"RS256\"\npublic_key_file = {:?}\n",
                keys.path("old.secret")
            ),
            "is not a RS256 public key in PEM",
        ),
        (
            "[[auth.keys]]\nalgorithm = \"HS512\"\nsecret_env = \"X\"\n".to_string(),
            "algorithm \"HS512\" is not supported; use HS256, RS256, ES256 or EdDSA",
        ),
        (
            "[[auth.keys]]\nalgorithm = \"none\"\n".to_string(),
            "\"none\" (unsigned tokens) is never accepted",
        ),
        (
            format!(
                "[[auth.keys]]\nalgorithm = \"HS256\"\nsecret_file = {:?}\n",
                write_short(dir.path())
            ),
            "use at least 32 random bytes",
        ),
        (
            "[[auth.keys]]\nalgorithm = \"HS256\"\nsecret = \"inline\"\n".to_string(),
            "unknown field `secret`",
        ),
    ];
    for (keys_toml, needle) in cases {
        let text = format!(
            "[auth]\nissuer = \"i\"\naudience = \"a\"\n{keys_toml}{}",
            module_table("my_new_module")
        );
        let config = write_config(dir.path(), &text);
        let (status, _, stderr) = run_modhost(&["check", "--config", config.to_str().unwrap()]);
        assert!(!status.success(), "{keys_toml} was accepted");
        assert!(stderr.contains("runtime.toml"), "{stderr}");
        assert!(stderr.contains(needle), "{needle:?} not in {stderr}");
    }
    // A leeway past an hour would let expired tokens through.
    let text = format!(
        "[auth]\nissuer = \"i\"\naudience = \"a\"\nleeway_seconds = 100000\n[[auth.keys]]\nalgorithm = \"EdDSA\"\npublic_key_file = {:?}\n{}",
        keys.path("ed.pub.pem"),
        module_table("my_new_module")
    );
    let config = write_config(dir.path(), &text);
    let (status, _, stderr) = run_modhost(&["check", "--config", config.to_str().unwrap()]);
    assert!(!status.success());
    assert!(stderr.contains("auth.leeway_seconds is 100000"), "{stderr}");
    // A module that requires auth needs [auth].
    let text = format!(
        "{}[modules.my_new_module.auth]\nrequired = true\n",
        module_table("my_new_module")
    );
    let config = write_config(dir.path(), &text);
    let (status, _, stderr) = run_modhost(&["check", "--config", config.to_str().unwrap()]);
    assert!(!status.success());
    assert!(
        stderr.contains("modules.my_new_module.auth.required: no [auth] section"),
        "{stderr}"
    );
}

fn write_short(dir: &Path) -> PathBuf {
    let path = dir.join("short.secret");
    std::fs::write(&path, "too-short").unwrap();
    path
}

/// A module declares which routes need a token (`Router::auth`,
/// `auth_roles`); the host checks them like the operator's, and the guest
/// gets the principal: subject, roles and every claim.
#[test]
fn routes_a_module_declares_get_the_principal_and_others_do_not() {
    let keys = Keys::make();
    let config = format!("{}{}", auth_section(&keys), module_table("whoami_module"));
    let modhost = Modhost::start(&config);
    let token = hs256("new", NEW_SECRET, &claims(|c| c["team"] = json!("blue")));

    refused(&modhost.get("/whoami"), "no bearer token");
    let me = get_as(&modhost, "/whoami", &token);
    let me = me.expect_status(200).json();
    assert_eq!(me["subject"], "u1");
    assert_eq!(me["roles"], json!(["user"]));
    assert_eq!(me["claims"]["team"], "blue");
    assert_eq!(me["claims"]["iss"], ISSUER);

    get_as(&modhost, "/whoami/admin", &token).expect_error(403, "admin");
    let admin = hs256(
        "new",
        NEW_SECRET,
        &claims(|c| c["roles"] = json!(["admin"])),
    );
    get_as(&modhost, "/whoami/admin", &admin).expect_status(200);

    // A route that asks for nothing gets no principal, even with a token.
    let public = get_as(&modhost, "/whoami/public", &token);
    assert_eq!(public.expect_status(200).json()["principal"], false);
    assert_eq!(modhost.get("/whoami/public").json()["principal"], false);
}

/// A module whose routes need tokens does not load on a host without
/// `[auth]`, and says why; the other modules serve.
#[test]
fn a_module_declaring_auth_routes_needs_an_auth_section() {
    let config = format!(
        "{}{}",
        module_table("whoami_module"),
        module_table("my_new_module")
    );
    let modhost = Modhost::start(&config);
    modhost.get("/my-module/info").expect_status(200);
    let listing = modhost.module_listing("whoami_module");
    let listed = listing.to_string();
    assert!(listed.contains("failed"), "{listing}");
    assert!(
        listed.contains("GET /whoami needs a bearer token"),
        "{listing}"
    );
    assert!(listed.contains("has no [auth] section"), "{listing}");
}

/// A token checked once is let through again from the host's recent
/// tokens, but never past its `exp`.
#[test]
fn a_token_let_through_before_is_refused_once_it_expires() {
    let keys = Keys::make();
    let config = format!(
        "{}{}[modules.my_new_module.auth]\nrequired = true\n",
        auth_section_with_leeway(&keys, 0),
        module_table("my_new_module")
    );
    let modhost = Modhost::start(&config);
    let short = hs256("new", NEW_SECRET, &claims(|c| c["exp"] = json!(now() + 2)));
    for _ in 0..3 {
        get_as(&modhost, "/my-module/info", &short).expect_status(200);
    }
    std::thread::sleep(std::time::Duration::from_secs(4));
    refused(&get_as(&modhost, "/my-module/info", &short), "expired");
}
