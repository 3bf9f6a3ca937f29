use super::*;
use std::net::{IpAddr, Ipv4Addr};

/// RFC 5321 `Mailbox` cases: REFERENCE.md §4 table plus the edges of each production.
/// `Ok(())` = accepted; `Err(code)` = refused with that code.
#[test]
fn mailbox_table() {
    use ErrorCode::*;
    let long_domain_ok = format!(
        "u@{}.{}.{}.{}",
        "a".repeat(63),
        "b".repeat(63),
        "c".repeat(63),
        "d".repeat(60)
    );
    let long_domain_bad = format!(
        "u@{}.{}.{}.{}",
        "a".repeat(63),
        "b".repeat(63),
        "c".repeat(63),
        "d".repeat(61)
    );
    assert_eq!(long_domain_ok.len(), 254);
    assert_eq!(long_domain_bad.len(), 255);
    let local64 = format!("{}@example.com", "a".repeat(64));
    let local65 = format!("{}@example.com", "a".repeat(65));
    let label63 = format!("user@{}.com", "a".repeat(63));
    let label64 = format!("user@{}.com", "a".repeat(64));

    let cases: Vec<(&str, Result<(), ErrorCode>)> = vec![
        // 1–2: plain and every atext character
        ("simple@example.com", Ok(())),
        ("!#$%&'*+-/=?^_`{|}~@example.com", Ok(())),
        // 3–4: dots
        (".first@example.com", Err(MailboxLocalInvalid)),
        ("first.@example.com", Err(MailboxLocalInvalid)),
        ("first..last@example.com", Err(MailboxLocalInvalid)),
        ("first.last@example.com", Ok(())),
        // 5–10: quoted strings
        ("\"first..last\"@example.com", Ok(())),
        ("\"john doe\"@example.com", Ok(())),
        ("\"a\\\"b\"@example.com", Ok(())),
        ("\"a\"b\"@example.com", Err(MailboxLocalInvalid)),
        ("\"\"@example.com", Ok(())),
        ("\"a\tb\"@example.com", Err(MailboxQuotedInvalid)),
        ("\"a\\\tb\"@example.com", Err(MailboxQuotedInvalid)),
        ("\"unterminated@example.com", Err(MailboxQuotedInvalid)),
        ("\"a@b\"@example.com", Ok(())),
        ("\"back\\\\slash\"@example.com", Ok(())),
        // 11: unquoted space
        ("user name@example.com", Err(MailboxLocalInvalid)),
        // 12–17: address literals
        ("user@[192.0.2.1]", Ok(())),
        ("user@[300.0.2.1]", Err(MailboxAddressLiteralInvalid)),
        ("user@[192.0.2]", Err(MailboxAddressLiteralInvalid)),
        ("user@[IPv6:2001:db8::1]", Ok(())),
        ("user@[ipv6:2001:db8::1]", Ok(())),
        ("user@[IPv6:2001:db8:0:0:0:0:0:1]", Ok(())),
        (
            "user@[IPv6:1:2:3:4:5:6:7::]",
            Err(MailboxAddressLiteralInvalid),
        ),
        ("user@[IPv6:1:2:3:4:5:6::]", Ok(())),
        ("user@[IPv6:::]", Ok(())),
        ("user@[IPv6:::ffff:192.0.2.1]", Ok(())),
        ("user@[IPv6:1:2:3:4:5:6:192.0.2.1]", Ok(())),
        (
            "user@[IPv6:1:2:3:4:5::192.0.2.1]",
            Err(MailboxAddressLiteralInvalid),
        ),
        ("user@[IPv6:1::2::3]", Err(MailboxAddressLiteralInvalid)),
        ("user@[IPv6:12345::1]", Err(MailboxAddressLiteralInvalid)),
        ("user@[2001:db8::1]", Err(MailboxAddressLiteralInvalid)),
        ("user@[192.0.2.1", Err(MailboxAddressLiteralInvalid)),
        ("user@192.0.2.1", Err(MailboxIpNeedsBrackets)),
        // 18–21: domain labels
        ("user@example.com.", Err(MailboxDomainInvalid)),
        ("user@exa_mple.com", Err(MailboxDomainInvalid)),
        ("user@-example.com", Err(MailboxDomainInvalid)),
        ("user@example-.com", Err(MailboxDomainInvalid)),
        ("user@ex-ample.com", Ok(())),
        ("user@xn--bcher-kva.example", Ok(())),
        ("user@123.example", Ok(())),
        ("a@b", Err(MailboxDomainNotQualified)),
        ("user@", Err(MailboxDomainInvalid)),
        ("user@.example.com", Err(MailboxDomainInvalid)),
        (&label63, Ok(())),
        (&label64, Err(MailboxDomainInvalid)),
        // 22–23: RFC 5322 forms that are not mailboxes
        ("Jane Doe <jane@example.com>", Err(MailboxDisplayName)),
        ("jane(comment)@example.com", Err(MailboxLocalInvalid)),
        // 24–25: lengths
        (&local64, Ok(())),
        (&local65, Err(MailboxLocalTooLong)),
        (&long_domain_ok, Ok(())),
        (&long_domain_bad, Err(MailboxTooLong)),
        // missing pieces and non-ASCII
        ("", Err(MailboxRequired)),
        ("userexample.com", Err(MailboxMissingAt)),
        ("@example.com", Err(MailboxLocalInvalid)),
        ("user@@example.com", Err(MailboxDomainInvalid)),
        ("üser@bücher.example", Err(MailboxNonAscii)),
        ("user@exam ple.com", Err(MailboxDomainInvalid)),
    ];
    assert!(cases.len() >= 40, "the table needs at least 40 cases");
    for (input, expected) in cases {
        let got = Mailbox::parse(input).map(|_| ());
        assert_eq!(got, expected, "Mailbox::parse({input:?})");
    }
}

#[test]
fn host_rules() {
    use ErrorCode::*;
    let long = format!("{}.com", vec!["a".repeat(63); 4].join("."));
    let cases: Vec<(&str, Result<(), ErrorCode>)> = vec![
        ("smtp.example.com", Ok(())),
        ("  smtp.example.com  ", Ok(())),
        ("smtp.example.com.", Ok(())),
        ("mailhost", Ok(())),
        ("192.0.2.10", Ok(())),
        ("2001:db8::25", Ok(())),
        ("[2001:db8::25]", Ok(())),
        ("", Err(ServerRequired)),
        ("smtp://smtp.example.com", Err(ServerHasScheme)),
        ("smtp.example.com/path", Err(ServerHasScheme)),
        ("smtp.example.com:587", Err(ServerHasPort)),
        ("smtp example.com", Err(ServerHasSpace)),
        ("smtp_relay.example.com", Err(ServerInvalid)),
        ("-smtp.example.com", Err(ServerInvalid)),
        ("smtp..example.com", Err(ServerInvalid)),
        ("300.1.2.3", Err(ServerInvalid)),
        (&long, Err(ServerTooLong)),
    ];
    for (input, expected) in cases {
        assert_eq!(
            Host::parse(input).map(|_| ()),
            expected,
            "Host::parse({input:?})"
        );
    }
}

#[test]
fn port_rules() {
    use ErrorCode::*;
    assert_eq!(Port::from_number(Some(587)).map(Port::get), Ok(587));
    assert_eq!(Port::from_number(Some(25)).map(Port::get), Ok(25));
    assert_eq!(Port::from_number(Some(2525)).map(Port::get), Ok(2525));
    assert_eq!(Port::from_number(Some(465)), Err(Port465Unsupported));
    assert_eq!(Port::from_number(Some(0)), Err(PortOutOfRange));
    assert_eq!(Port::from_number(Some(65536)), Err(PortOutOfRange));
    assert_eq!(Port::from_number(Some(-1)), Err(PortOutOfRange));
    assert_eq!(Port::from_number(None), Err(PortRequired));
    assert_eq!(Port::number_from_text(" 587 "), Ok(Some(587)));
    assert_eq!(Port::number_from_text(""), Ok(None));
    assert_eq!(Port::number_from_text("58a"), Err(PortNotNumber));
    assert_eq!(Port::number_from_text("-5"), Err(PortNotNumber));
    assert_eq!(
        Port::number_from_text("99999999999999999999999"),
        Ok(Some(i64::MAX))
    );
    let p587 = Port::from_number(Some(587)).unwrap();
    let p25 = Port::from_number(Some(25)).unwrap();
    let p2525 = Port::from_number(Some(2525)).unwrap();
    assert_eq!(p587.check_ssl(false), Err(Port587RequiresSsl));
    assert_eq!(p587.check_ssl(true), Ok(()));
    assert_eq!(p25.check_ssl(true), Err(Port25RequiresNoSsl));
    assert_eq!(p25.check_ssl(false), Ok(()));
    assert_eq!(p2525.check_ssl(true), Ok(()));
    assert_eq!(p2525.check_ssl(false), Ok(()));
}

#[test]
fn oauth_id_rules() {
    use ErrorCode::*;
    let guid = "0a1b2c3d-4e5f-6789-abcd-ef0123456789";
    assert!(MicrosoftClientId::parse(guid).is_ok());
    assert!(MicrosoftClientId::parse(&guid.to_uppercase()).is_ok());
    assert_eq!(MicrosoftClientId::parse(""), Err(ClientIdRequired));
    assert_eq!(
        MicrosoftClientId::parse("0a1b2c3d4e5f6789abcdef0123456789"),
        Err(MicrosoftClientIdInvalid)
    );
    assert_eq!(
        MicrosoftClientId::parse("0a1b2c3d-4e5f-6789-abcd-ef012345678g"),
        Err(MicrosoftClientIdInvalid)
    );
    assert!(MicrosoftTenant::parse(guid).is_ok());
    assert!(MicrosoftTenant::parse("contoso.onmicrosoft.com").is_ok());
    assert_eq!(
        MicrosoftTenant::parse("common"),
        Err(MicrosoftTenantIdInvalid)
    );
    assert_eq!(
        MicrosoftTenant::parse("organizations"),
        Err(MicrosoftTenantIdInvalid)
    );
    assert_eq!(MicrosoftTenant::parse(""), Err(TenantIdRequired));
    assert!(GoogleClientId::parse("1234567890-abc123def456.apps.googleusercontent.com").is_ok());
    assert_eq!(
        GoogleClientId::parse("1234567890-abc.apps.google.com"),
        Err(GoogleClientIdInvalid)
    );
    assert_eq!(
        GoogleClientId::parse(".apps.googleusercontent.com"),
        Err(GoogleClientIdInvalid)
    );
    assert_eq!(
        GoogleClientId::parse("a b.apps.googleusercontent.com"),
        Err(GoogleClientIdInvalid)
    );
}

#[test]
fn manager_root_rules() {
    use ErrorCode::*;
    let ok = [
        "http://{0}/ConMasManager",
        "http://{0}:8080/ConMasManager",
        "https://reports.example.co.jp/ConMasManager0001",
        "https://reports.example.co.jp",
        "http://[2001:db8::1]/ConMasManager",
    ];
    for s in ok {
        assert!(ManagerRoot::parse(s).is_ok(), "{s} should be accepted");
    }
    let bad = [
        ("", ManagerRootRequired),
        ("reports.example.com/ConMasManager", ManagerRootScheme),
        ("ftp://reports.example.com/", ManagerRootScheme),
        (
            "https://reports.example.com/ConMasManager?x=1",
            ManagerRootQueryFragment,
        ),
        (
            "https://reports.example.com/ConMasManager#top",
            ManagerRootQueryFragment,
        ),
        (
            "https://{0}.example.com/ConMasManager",
            ManagerRootPlaceholderPosition,
        ),
        (
            "https://reports.example.com/{0}",
            ManagerRootPlaceholderPosition,
        ),
        ("https://{0}/{0}", ManagerRootPlaceholderPosition),
        ("https://{1}/ConMasManager", ManagerRootPlaceholderPosition),
        (
            "https://user:pw@reports.example.com/",
            ManagerRootCredentials,
        ),
        ("https:///ConMasManager", ManagerRootInvalid),
        ("https://exa mple.com/", ManagerRootInvalid),
    ];
    for (s, code) in bad {
        assert_eq!(ManagerRoot::parse(s), Err(code), "{s}");
    }
}

#[test]
fn manager_root_resolution_and_redirect_uris() {
    let ip4 = Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 5)));
    let root = ManagerRoot::parse("http://{0}/ConMasManager/").unwrap();
    assert_eq!(root.resolve(ip4), "http://10.0.0.5/ConMasManager/");
    assert_eq!(
        root.redirect_uri(Provider::Microsoft, ip4),
        "http://10.0.0.5/ConMasManager/System/MailOAuthMicrosoft"
    );
    let v6 = Some("2001:db8::7".parse().unwrap());
    assert_eq!(root.resolve(v6), "http://[2001:db8::7]/ConMasManager/");
    assert_eq!(root.resolve(None), "http://{0}/ConMasManager/");

    // `{0}` on a private address: http, IP for Google, private: all three problems.
    let google = root.redirect_check(Provider::Google, ip4);
    assert!(google.https_required && google.ip_not_allowed && google.private_address);
    let ms = root.redirect_check(Provider::Microsoft, ip4);
    assert!(ms.https_required && !ms.ip_not_allowed && ms.private_address);

    let good = ManagerRoot::parse("https://reports.example.co.jp/ConMasManager").unwrap();
    assert!(good.redirect_check(Provider::Google, ip4).is_ok());
    assert_eq!(
        good.redirect_uri(Provider::Google, ip4),
        "https://reports.example.co.jp/ConMasManager/System/MailOAuthGoogle"
    );

    let local = ManagerRoot::parse("http://localhost:3000/ConMasManager").unwrap();
    assert!(local.redirect_check(Provider::Microsoft, None).is_ok());
    assert!(local.redirect_check(Provider::Google, None).is_ok());

    let public_ip = ManagerRoot::parse("https://203.0.113.9/ConMasManager").unwrap();
    let g = public_ip.redirect_check(Provider::Google, None);
    assert!(!g.https_required && g.ip_not_allowed && !g.private_address);
}

fn stored() -> SettingsView {
    SettingsView::initial("/ConMasManager")
}

fn smtp_input() -> SettingsInput {
    SettingsInput {
        auth: AuthType::Smtp,
        smtp: Some(SmtpInput {
            server: "smtp.example.com".into(),
            port: Some(587),
            user: "notice@example.com".into(),
            password: Some(TypedSecret::new("pw-1")),
            ssl: true,
        }),
        oauth: None,
        manager_root: "http://{0}/ConMasManager".into(),
        delivery: None,
        alerts: None,
        backup: None,
        version: None,
    }
}

#[test]
fn valid_smtp_settings_pass_and_report_changes() {
    let v = validate(&stored(), &smtp_input()).expect("valid");
    assert!(v.settings().smtp.password_set);
    assert!(v.smtp_password().is_replace());
    assert_eq!(v.oauth_client_secret(), &SecretChange::Keep);
    assert!(v.changed_fields().contains(&Field::SmtpPassword));
    assert!(v.changed_fields().contains(&Field::SmtpServer));
    assert!(!v.changed_fields().contains(&Field::ManagerRoot));
}

#[test]
fn every_invalid_field_is_reported_once() {
    let mut input = smtp_input();
    let smtp = input.smtp.as_mut().unwrap();
    smtp.server = "smtp.example.com:25".into();
    smtp.port = Some(465);
    smtp.user = "not an address".into();
    input.manager_root = "reports.example.com".into();
    let errors = validate(&stored(), &input).unwrap_err();
    let codes: Vec<(Field, ErrorCode)> = errors.iter().map(|e| (e.field, e.code)).collect();
    assert_eq!(
        codes,
        vec![
            (Field::ManagerRoot, ErrorCode::ManagerRootScheme),
            (Field::SmtpServer, ErrorCode::ServerHasPort),
            (Field::SmtpPort, ErrorCode::Port465Unsupported),
            (Field::SmtpUser, ErrorCode::MailboxMissingAt),
        ]
    );
}

#[test]
fn password_required_only_when_none_stored() {
    let mut input = smtp_input();
    input.smtp.as_mut().unwrap().password = None;
    let errors = validate(&stored(), &input).unwrap_err();
    assert_eq!(
        errors,
        vec![FieldError::new(
            Field::SmtpPassword,
            ErrorCode::PasswordRequired
        )]
    );

    // Stored for this same server, port, SSL and user.
    let with_password = validate(&stored(), &smtp_input())
        .expect("valid")
        .settings()
        .clone();
    assert!(with_password.smtp.password_set);
    let v = validate(&with_password, &input).expect("stored password is kept");
    assert_eq!(v.smtp_password(), &SecretChange::Keep);
    // An empty string also keeps it: the form sends "" when the box was left alone.
    input.smtp.as_mut().unwrap().password = Some(TypedSecret::new(""));
    assert_eq!(
        validate(&with_password, &input).unwrap().smtp_password(),
        &SecretChange::Keep
    );
}

#[test]
fn control_characters_are_refused_everywhere() {
    let mut input = smtp_input();
    input.smtp.as_mut().unwrap().password = Some(TypedSecret::new("pw\r\nRCPT TO:<x@y.z>"));
    let errors = validate(&stored(), &input).unwrap_err();
    assert_eq!(
        errors,
        vec![FieldError::new(
            Field::SmtpPassword,
            ErrorCode::ControlCharacters
        )]
    );

    // Even in the block that is not selected.
    let mut input = smtp_input();
    input.oauth = Some(OauthInput {
        provider: Provider::Google,
        client_id: "x\ny".into(),
        ..Default::default()
    });
    let errors = validate(&stored(), &input).unwrap_err();
    assert_eq!(
        errors,
        vec![FieldError::new(
            Field::OauthClientId,
            ErrorCode::ControlCharacters
        )]
    );
}

#[test]
fn unselected_block_is_kept_as_typed() {
    let mut input = smtp_input();
    input.oauth = Some(OauthInput {
        provider: Provider::Microsoft,
        client_id: "half-typed".into(),
        client_secret: None,
        tenant_id: String::new(),
        client_secret_expires_on: String::new(),
        ..Default::default()
    });
    let v = validate(&stored(), &input).expect("oauth block is not selected");
    assert_eq!(v.settings().oauth.client_id, "half-typed");

    // Selecting it makes the same values errors.
    input.auth = AuthType::Oauth;
    let errors = validate(&v.settings().clone(), &input).unwrap_err();
    let fields: Vec<Field> = errors.iter().map(|e| e.field).collect();
    assert_eq!(
        fields,
        vec![
            Field::OauthClientId,
            Field::OauthTenantId,
            Field::OauthClientSecret
        ]
    );
}

#[test]
fn oauth_secret_counts_only_for_the_same_provider() {
    let mut s = stored();
    s.auth = AuthType::Oauth;
    s.oauth = OauthView {
        provider: Provider::Microsoft,
        client_id: "0a1b2c3d-4e5f-6789-abcd-ef0123456789".into(),
        client_secret_set: true,
        tenant_id: "contoso.onmicrosoft.com".into(),
        client_secret_expires_on: String::new(),
        ..Default::default()
    };
    let input = SettingsInput {
        auth: AuthType::Oauth,
        smtp: None,
        oauth: Some(OauthInput {
            provider: Provider::Google,
            client_id: "1234-abc.apps.googleusercontent.com".into(),
            client_secret: None,
            tenant_id: String::new(),
            client_secret_expires_on: String::new(),
            ..Default::default()
        }),
        manager_root: "https://reports.example.com/ConMasManager".into(),
        delivery: None,
        alerts: None,
        backup: None,
        version: Some(0),
    };
    let errors = validate(&s, &input).unwrap_err();
    assert_eq!(
        errors,
        vec![FieldError::new(
            Field::OauthClientSecret,
            ErrorCode::ClientSecretRequired
        )]
    );
}

#[test]
fn notices_for_deprecated_hosts_and_redirects() {
    let mut s = stored();
    s.smtp.server = "smtp.office365.com".into();
    let n = notices(&s, Some(IpAddr::V4(Ipv4Addr::new(192, 168, 1, 20))));
    assert!(n.contains(&Notice::new(
        Field::SmtpServer,
        NoticeCode::SmtpAuthDeprecatedMicrosoft
    )));
    assert!(n.contains(&Notice::for_provider(
        Field::ManagerRoot,
        NoticeCode::RedirectIpNotAllowed,
        Provider::Google
    )));
    s.smtp.server = "SMTP.GMAIL.COM".into();
    s.manager_root = "https://reports.example.com/ConMasManager".into();
    let n = notices(&s, None);
    assert_eq!(
        n,
        vec![Notice::new(
            Field::SmtpServer,
            NoticeCode::SmtpAuthDeprecatedGoogle
        )]
    );
}

#[test]
fn tab_from_query_falls_back_to_saved_method() {
    assert_eq!(
        Tab::from_query(Some("google"), AuthType::Smtp, Provider::Microsoft),
        Tab::Google
    );
    assert_eq!(
        Tab::from_query(Some("bogus"), AuthType::Oauth, Provider::Google),
        Tab::Google
    );
    assert_eq!(
        Tab::from_query(None, AuthType::Smtp, Provider::Google),
        Tab::Smtp
    );
    assert_eq!(
        Tab::from_query(None, AuthType::Oauth, Provider::Microsoft),
        Tab::Microsoft
    );
}

#[test]
fn secrets_do_not_show_in_debug_output() {
    let input = smtp_input();
    let debug = format!("{input:?}");
    assert!(!debug.contains("pw-1"), "{debug}");
    assert!(debug.contains("REDACTED"));
}

#[test]
fn error_codes_have_stable_wire_names() {
    assert_eq!(
        ErrorCode::Port465Unsupported.as_str(),
        "port_465_unsupported"
    );
    assert_eq!(
        serde_json::to_string(&Field::SmtpPort).unwrap(),
        "\"smtp.port\""
    );
    assert_eq!(
        Field::from_path("oauth.client_id"),
        Some(Field::OauthClientId)
    );
    // The REST error's `field` is `as_str`; the JSON of a `FieldError` is serde's name.
    for field in Field::ALL {
        let wire = serde_json::to_value(field).unwrap();
        assert_eq!(wire.as_str(), Some(field.as_str()), "{field:?}");
    }
}

#[test]
fn dates_are_calendar_dates() {
    assert_eq!(parse_date("2027-02-28"), Some((2027, 2, 28)));
    assert_eq!(parse_date("2028-02-29"), Some((2028, 2, 29)));
    assert_eq!(parse_date("2027-02-29"), None);
    assert_eq!(parse_date("2027-13-01"), None);
    assert_eq!(parse_date("2027-1-01"), None);
    assert_eq!(parse_date("27-01-2027"), None);
    assert_eq!(parse_date("2027-01-+1"), None);
}

#[test]
fn secret_expiry_date_is_checked_for_microsoft() {
    let stored = SettingsView::initial("/ConMasManager");
    let mut input = SettingsInput {
        auth: AuthType::Oauth,
        oauth: Some(OauthInput {
            provider: Provider::Microsoft,
            client_id: "6731de76-14a6-49ae-97bc-6eba6914391e".into(),
            client_secret: Some(TypedSecret::new("s3cret-value")),
            tenant_id: "contoso.onmicrosoft.com".into(),
            client_secret_expires_on: "2027-02-30".into(),
            ..Default::default()
        }),
        manager_root: "https://reports.example.co.jp/ConMasManager".into(),
        ..Default::default()
    };
    let errors = validate(&stored, &input).unwrap_err();
    assert_eq!(
        errors,
        vec![FieldError::new(
            Field::OauthSecretExpiresOn,
            ErrorCode::DateInvalid
        )]
    );
    input.oauth.as_mut().unwrap().client_secret_expires_on = " 2027-02-28 ".into();
    let valid = validate(&stored, &input).unwrap();
    assert_eq!(
        valid.settings().oauth.client_secret_expires_on,
        "2027-02-28"
    );
    assert!(
        valid
            .changed_fields()
            .contains(&Field::OauthSecretExpiresOn)
    );
}

/// A stored password is bound to the server, port, SSL and user it was entered for; a stored
/// client secret to its provider, client ID and tenant.
#[test]
fn stored_secrets_only_count_for_their_own_target() {
    let saved = validate(&stored(), &smtp_input())
        .expect("valid")
        .settings()
        .clone();
    let without_password = || {
        let mut input = smtp_input();
        input.smtp.as_mut().unwrap().password = None;
        input
    };
    assert!(
        validate(&saved, &without_password()).is_ok(),
        "same target keeps it"
    );
    let mut host_case = without_password();
    host_case.smtp.as_mut().unwrap().server = "SMTP.Example.com".into();
    assert!(
        validate(&saved, &host_case).is_ok(),
        "host names compare without case"
    );

    let changes: [fn(&mut SmtpInput); 4] = [
        |s| s.server = "smtp.attacker.example".into(),
        |s| s.port = Some(2525),
        |s| {
            s.port = Some(25);
            s.ssl = false
        },
        |s| s.user = "other@example.com".into(),
    ];
    for change in changes {
        let mut input = without_password();
        change(input.smtp.as_mut().unwrap());
        let errors = validate(&saved, &input).unwrap_err();
        assert!(
            errors.contains(&FieldError::new(
                Field::SmtpPassword,
                ErrorCode::PasswordRequired
            )),
            "{input:?}: {errors:?}"
        );
        assert!(!merge(&saved, &input).smtp.password_set);
    }

    let mut oauth_saved = saved.clone();
    oauth_saved.oauth = OauthView {
        provider: Provider::Microsoft,
        client_id: "6731de76-14a6-49ae-97bc-6eba6914391e".into(),
        client_secret_set: true,
        tenant_id: "contoso.onmicrosoft.com".into(),
        client_secret_expires_on: String::new(),
        ..Default::default()
    };
    let oauth_input = |client_id: &str, tenant_id: &str| SettingsInput {
        auth: AuthType::Oauth,
        smtp: None,
        oauth: Some(OauthInput {
            provider: Provider::Microsoft,
            client_id: client_id.into(),
            client_secret: None,
            tenant_id: tenant_id.into(),
            client_secret_expires_on: String::new(),
            ..Default::default()
        }),
        manager_root: "http://{0}/ConMasManager".into(),
        delivery: None,
        alerts: None,
        backup: None,
        version: None,
    };
    let same = oauth_input(
        "6731de76-14a6-49ae-97bc-6eba6914391e",
        "Contoso.onmicrosoft.com",
    );
    assert!(merge(&oauth_saved, &same).oauth.client_secret_set);
    for other in [
        oauth_input(
            "0a1b2c3d-4e5f-4789-abcd-ef0123456789",
            "contoso.onmicrosoft.com",
        ),
        oauth_input(
            "6731de76-14a6-49ae-97bc-6eba6914391e",
            "fabrikam.onmicrosoft.com",
        ),
    ] {
        assert!(
            !merge(&oauth_saved, &other).oauth.client_secret_set,
            "{other:?}"
        );
    }
}

/// `{rep_url}` always points at ManagerRoot's own server, whatever `rep_path` says.
#[test]
fn report_links_stay_on_the_manager_root_host() {
    let ip = Some(IpAddr::V4(Ipv4Addr::new(192, 168, 10, 20)));
    let placeholder = ManagerRoot::parse("http://{0}").unwrap();
    let cloud = ManagerRoot::parse("https://reports.example.co.jp/ConMasManager0001").unwrap();
    assert_eq!(
        cloud.report_url(ip, "/Report/7?x=1#top").as_deref(),
        Some("https://reports.example.co.jp/ConMasManager0001/Report/7?x=1#top")
    );
    assert_eq!(
        placeholder.report_url(ip, "").as_deref(),
        Some("http://192.168.10.20")
    );
    assert_eq!(
        placeholder.report_url(ip, "/Report/7").as_deref(),
        Some("http://192.168.10.20/Report/7")
    );
    for hostile in [
        "@evil.example/x",
        ".evil.example/x",
        ":8080@evil.example",
        "//evil.example/x",
        "\\\\evil.example",
        "/a b",
        "/a\nBcc: x",
        "https://evil.example/",
        "evil",
    ] {
        assert_eq!(placeholder.report_url(ip, hostile), None, "{hostile:?}");
        assert_eq!(cloud.report_url(ip, hostile), None, "{hostile:?}");
    }
    assert_eq!(
        cloud.report_url(ip, &format!("/{}", "a".repeat(3000))),
        None
    );
}

/// The cases the browser test (`end2end/tests/manager-root.spec.ts`) types into the edit page:
/// the server's `url` crate and the browser's `URL` must give the same verdicts.
#[test]
fn manager_root_cases_shared_with_the_browser_test() {
    #[derive(serde::Deserialize)]
    struct Case {
        root: String,
        #[serde(default)]
        microsoft: Vec<NoticeCode>,
        error: Option<ErrorCode>,
        uri: Option<String>,
    }
    let cases: Vec<Case> = serde_json::from_str(include_str!("manager_root_cases.json")).unwrap();
    assert!(cases.len() >= 10);
    for case in cases {
        match ManagerRoot::parse(&case.root) {
            Ok(root) => {
                assert_eq!(case.error, None, "{} should be refused", case.root);
                let problems = root.redirect_check(Provider::Microsoft, None).problems();
                assert_eq!(problems, case.microsoft, "{}", case.root);
                if let Some(uri) = case.uri {
                    assert_eq!(root.redirect_uri(Provider::Microsoft, None), uri);
                }
            }
            Err(code) => assert_eq!(Some(code), case.error, "{}", case.root),
        }
    }
}

#[test]
fn divert_and_pause_are_stored_trimmed_audited_and_kept_when_omitted() {
    let mut input = smtp_input();
    input.delivery = Some(DeliveryOptions {
        divert_to: Some("  qa@example.com ".into()),
        paused: true,
    });
    let valid = validate(&stored(), &input).unwrap();
    let saved = valid.settings().clone();
    assert_eq!(saved.delivery.divert(), Some("qa@example.com"));
    assert!(saved.delivery.paused && saved.delivery.is_unusual());
    assert!(valid.changed_fields().contains(&Field::DeliveryDivertTo));
    assert!(valid.changed_fields().contains(&Field::DeliveryPaused));

    // Omitted: what is stored stays. An empty address turns divert off.
    let mut again = smtp_input();
    again.smtp.as_mut().unwrap().password = None;
    let kept = validate(&saved, &again).unwrap();
    assert_eq!(kept.settings().delivery, saved.delivery);
    assert!(!kept.changed_fields().contains(&Field::DeliveryDivertTo));
    again.delivery = Some(DeliveryOptions {
        divert_to: Some("   ".into()),
        paused: false,
    });
    let off = validate(&saved, &again).unwrap();
    assert_eq!(off.settings().delivery, DeliveryOptions::default());
    assert!(!off.settings().delivery.is_unusual());
}

#[test]
fn a_divert_address_must_be_one_plain_mailbox() {
    for (bad, code) in [
        ("qa.example.com", ErrorCode::MailboxMissingAt),
        ("QA <qa@example.com>", ErrorCode::MailboxDisplayName),
        (
            "qa@example.com, ops@example.com",
            ErrorCode::MailboxDomainInvalid,
        ),
        (
            "qa@example.com\r\nBcc: x@evil.example",
            ErrorCode::ControlCharacters,
        ),
    ] {
        let mut input = smtp_input();
        input.delivery = Some(DeliveryOptions {
            divert_to: Some(bad.into()),
            paused: false,
        });
        let errors = validate(&stored(), &input).unwrap_err();
        assert_eq!(
            errors,
            vec![FieldError::new(Field::DeliveryDivertTo, code)],
            "{bad:?}"
        );
    }
}

#[test]
fn the_delivery_block_reads_null_and_flags() {
    let json = r#"{"auth":"smtp","manager_root":"x","delivery":{"divert_to":null,"paused":true}}"#;
    let input: SettingsInput = serde_json::from_str(json).unwrap();
    assert_eq!(input.delivery.map(|d| d.paused), Some(true));
}

#[test]
fn alerts_need_a_webhook_that_is_https_or_local_and_keep_it_write_only() {
    let stored = stored();
    let with = |enabled: bool, url: Option<&str>| SettingsInput {
        alerts: Some(AlertsInput {
            enabled,
            webhook_url: url.map(TypedSecret::new),
        }),
        ..smtp_input()
    };
    // On without an address: refused, on the address field.
    let errors = validate(&stored, &with(true, None)).unwrap_err();
    assert_eq!(
        errors,
        vec![FieldError::new(
            Field::AlertsWebhookUrl,
            ErrorCode::WebhookUrlRequired
        )]
    );
    for (url, code) in [
        ("http://hooks.example.com/x", ErrorCode::WebhookUrlNotHttps),
        (
            "https://u:p@hooks.example.com/x",
            ErrorCode::WebhookUrlCredentials,
        ),
        ("https://hooks example.com/", ErrorCode::WebhookUrlInvalid),
    ] {
        let errors = validate(&stored, &with(true, Some(url))).unwrap_err();
        assert_eq!(
            errors,
            vec![FieldError::new(Field::AlertsWebhookUrl, code)],
            "{url}"
        );
    }
    let valid = validate(
        &stored,
        &with(true, Some("  https://hooks.slack.com/services/T/B/x  ")),
    )
    .unwrap();
    assert!(valid.settings().alerts.enabled && valid.settings().alerts.webhook_set);
    assert_eq!(valid.settings().alerts.webhook_host, "hooks.slack.com");
    assert_eq!(
        valid.alert_webhook(),
        &SecretChange::Replace(TypedSecret::new("https://hooks.slack.com/services/T/B/x"))
    );
    assert!(valid.changed_fields().contains(&Field::AlertsWebhookUrl));
    assert!(valid.changed_fields().contains(&Field::AlertsEnabled));
    // Saved: turning alerts off and on again keeps the address; no block keeps everything.
    let saved = valid.settings().clone();
    let off = validate(&saved, &with(false, Some(""))).unwrap();
    assert!(!off.settings().alerts.enabled && off.settings().alerts.webhook_set);
    assert_eq!(off.alert_webhook(), &SecretChange::Keep);
    let kept = validate(&saved, &smtp_input()).unwrap();
    assert_eq!(kept.settings().alerts, saved.alerts);
    assert!(!kept.changed_fields().contains(&Field::AlertsEnabled));
}

#[test]
fn app_only_is_microsofts_and_needs_a_plain_sending_mailbox() {
    let with = |provider: Provider, flow: OauthFlow, sender: &str| SettingsInput {
        auth: AuthType::Oauth,
        oauth: Some(OauthInput {
            provider,
            client_id: match provider {
                Provider::Microsoft => "6731de76-14a6-49ae-97bc-6eba6914391e".into(),
                Provider::Google => "1234567890-abc.apps.googleusercontent.com".into(),
            },
            client_secret: Some(TypedSecret::new("s")),
            tenant_id: match provider {
                Provider::Microsoft => "contoso.onmicrosoft.com".into(),
                Provider::Google => String::new(),
            },
            flow,
            sender: sender.into(),
            ..Default::default()
        }),
        ..smtp_input()
    };
    let errors = |input| validate(&stored(), &input).unwrap_err();
    assert_eq!(
        errors(with(Provider::Google, OauthFlow::AppOnly, "")),
        vec![FieldError::new(
            Field::OauthFlow,
            ErrorCode::AppOnlyMicrosoftOnly
        )]
    );
    assert_eq!(
        errors(with(Provider::Microsoft, OauthFlow::AppOnly, " ")),
        vec![FieldError::new(
            Field::OauthSender,
            ErrorCode::MailboxRequired
        )]
    );
    assert_eq!(
        errors(with(
            Provider::Microsoft,
            OauthFlow::AppOnly,
            "Notice <notice@contoso.com>"
        ))[0]
            .field,
        Field::OauthSender
    );
    let valid = validate(
        &stored(),
        &with(
            Provider::Microsoft,
            OauthFlow::AppOnly,
            " notice@contoso.com ",
        ),
    )
    .unwrap();
    assert_eq!(valid.settings().oauth.flow, OauthFlow::AppOnly);
    assert_eq!(valid.settings().oauth.sender, "notice@contoso.com");
    assert!(valid.changed_fields().contains(&Field::OauthFlow));
    assert!(valid.changed_fields().contains(&Field::OauthSender));
    // Delegated needs no mailbox (the connected account sends).
    assert!(
        validate(
            &stored(),
            &with(Provider::Microsoft, OauthFlow::Delegated, "")
        )
        .is_ok()
    );
}

#[test]
fn a_certificate_credential_needs_a_pem_certificate_and_an_unencrypted_key() {
    const CERT: &str = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----";
    const KEY: &str = "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----";
    let with = |cert: Option<&str>, key: Option<&str>| SettingsInput {
        auth: AuthType::Oauth,
        oauth: Some(OauthInput {
            provider: Provider::Microsoft,
            client_id: "6731de76-14a6-49ae-97bc-6eba6914391e".into(),
            tenant_id: "contoso.onmicrosoft.com".into(),
            credential: OauthCredential::Certificate,
            certificate: cert.map(str::to_string),
            certificate_key: key.map(TypedSecret::new),
            ..Default::default()
        }),
        ..smtp_input()
    };
    let errors = |input| validate(&stored(), &input).unwrap_err();
    // No client secret is asked for; the pair is.
    assert_eq!(
        errors(with(None, Some(" "))),
        vec![
            FieldError::new(Field::OauthCertificate, ErrorCode::CertificateRequired),
            FieldError::new(
                Field::OauthCertificateKey,
                ErrorCode::CertificateKeyRequired
            ),
        ]
    );
    let code_of = |input| errors(input)[0].code;
    assert_eq!(
        code_of(with(Some("MIIB"), Some(KEY))),
        ErrorCode::CertificateInvalid
    );
    assert_eq!(
        code_of(with(
            Some(CERT),
            Some("-----BEGIN ENCRYPTED PRIVATE KEY-----\nx")
        )),
        ErrorCode::CertificateKeyEncrypted
    );
    assert_eq!(
        code_of(with(Some(CERT), Some("-----BEGIN EC PRIVATE KEY-----\nx"))),
        ErrorCode::CertificateKeyInvalid
    );
    let long = format!("{CERT}\n{}", "A".repeat(MAX_PEM_LEN));
    assert_eq!(code_of(with(Some(&long), Some(KEY))), ErrorCode::PemTooLong);
    assert_eq!(
        code_of(with(Some("-----BEGIN CERTIFICATE-----\u{0}"), Some(KEY))),
        ErrorCode::ControlCharacters
    );

    // Accepted as to shape (the server reads them fully); the key is write-only.
    let valid = validate(&stored(), &with(Some(CERT), Some(KEY))).unwrap();
    assert!(valid.settings().oauth.certificate.is_some());
    assert!(valid.settings().oauth.certificate_key_set);
    assert!(!valid.settings().oauth.client_secret_set);
    assert!(valid.certificate_key().is_replace());
    assert_eq!(valid.certificate().map(str::trim), Some(CERT));
    for field in [
        Field::OauthCredential,
        Field::OauthCertificate,
        Field::OauthCertificateKey,
    ] {
        assert!(valid.changed_fields().contains(&field), "{field:?}");
    }
    // Google takes no certificate.
    let mut google = with(Some(CERT), Some(KEY));
    let o = google.oauth.as_mut().unwrap();
    o.provider = Provider::Google;
    o.client_id = "1234567890-abc.apps.googleusercontent.com".into();
    o.tenant_id = String::new();
    o.client_secret = Some(TypedSecret::new("s"));
    assert_eq!(
        errors(google),
        vec![FieldError::new(
            Field::OauthCredential,
            ErrorCode::CertificateMicrosoftOnly
        )]
    );
}

#[test]
fn a_backup_connection_is_checked_like_the_main_one_and_kept_unless_changed() {
    let backup = |password: Option<&str>, port: i64| {
        Some(Some(BackupInput::Smtp(SmtpInput {
            server: " relay.example.co.jp ".into(),
            port: Some(port),
            user: "notice@example.co.jp".into(),
            password: password.map(TypedSecret::new),
            ssl: true,
        })))
    };
    let with = |b| SettingsInput {
        backup: b,
        ..smtp_input()
    };
    // Every SMTP rule, on the backup's own fields; its own password.
    assert_eq!(
        validate(&stored(), &with(backup(None, 25))).unwrap_err(),
        vec![
            FieldError::new(Field::BackupSmtpSsl, ErrorCode::Port25RequiresNoSsl),
            FieldError::new(Field::BackupSmtpPassword, ErrorCode::PasswordRequired),
        ]
    );
    let valid = validate(&stored(), &with(backup(Some("pw"), 587))).unwrap();
    let saved = valid.settings().clone();
    let b = saved.backup.as_ref().and_then(BackupView::smtp).unwrap();
    assert_eq!(b.server, "relay.example.co.jp");
    assert!(b.password_set);
    assert!(valid.backup_password().is_replace());
    assert!(valid.changed_fields().contains(&Field::BackupSmtpServer));
    assert!(valid.changed_fields().contains(&Field::BackupSmtpPassword));
    // Missing: kept as stored; the same server keeps the stored password.
    assert_eq!(
        validate(&saved, &with(None)).unwrap().settings().backup,
        saved.backup
    );
    assert!(validate(&saved, &with(backup(None, 587))).is_ok());
    // Another server: the password must be typed again.
    let mut moved = with(backup(None, 587));
    if let Some(Some(BackupInput::Smtp(smtp))) = moved.backup.as_mut() {
        smtp.server = "other.example.co.jp".into();
    }
    assert_eq!(
        validate(&saved, &moved).unwrap_err(),
        vec![FieldError::new(
            Field::BackupSmtpPassword,
            ErrorCode::PasswordRequired
        )]
    );
    // `null`: no backup.
    assert_eq!(
        validate(&saved, &with(Some(None)))
            .unwrap()
            .settings()
            .backup,
        None
    );
    // The JSON: missing, null and an object are three different things.
    let parse = |json: &str| serde_json::from_str::<SettingsInput>(json).unwrap().backup;
    assert_eq!(parse(r#"{"auth":"smtp","manager_root":"x"}"#), None);
    assert_eq!(
        parse(r#"{"auth":"smtp","manager_root":"x","backup":null}"#),
        Some(None)
    );
    assert!(matches!(
        parse(r#"{"auth":"smtp","manager_root":"x","backup":{"smtp":{"server":"a"}}}"#),
        Some(Some(_))
    ));
}

#[test]
fn a_microsoft_backup_is_checked_as_app_only_and_keeps_its_secret_for_the_same_app() {
    const TENANT: &str = "contoso.onmicrosoft.com";
    const CLIENT: &str = "00000000-0000-0000-0000-0000000000b2";
    let backup = |client_id: &str, secret: Option<&str>, sender: &str| {
        Some(Some(BackupInput::Oauth(BackupOauthInput {
            tenant_id: TENANT.into(),
            client_id: client_id.into(),
            client_secret: secret.map(TypedSecret::new),
            client_secret_expires_on: "2027-03-31".into(),
            sender: sender.into(),
        })))
    };
    let with = |b| SettingsInput {
        backup: b,
        ..smtp_input()
    };
    // Each app-only rule on the backup's own fields, and its own secret.
    assert_eq!(
        validate(
            &stored(),
            &with(backup("not-a-guid", None, "Backup <b@x.jp>"))
        )
        .unwrap_err(),
        vec![
            FieldError::new(
                Field::BackupOauthClientId,
                ErrorCode::MicrosoftClientIdInvalid
            ),
            FieldError::new(
                Field::BackupOauthClientSecret,
                ErrorCode::ClientSecretRequired
            ),
            FieldError::new(Field::BackupOauthSender, ErrorCode::MailboxDisplayName),
        ]
    );
    let valid = validate(
        &stored(),
        &with(backup(CLIENT, Some(" s3cret "), " backup@contoso.com ")),
    )
    .unwrap();
    let saved = valid.settings().clone();
    let b = saved.backup.as_ref().and_then(BackupView::oauth).unwrap();
    assert_eq!(b.sender, "backup@contoso.com");
    assert!(b.client_secret_set);
    assert_eq!(
        valid.backup_client_secret(),
        &SecretChange::Replace(TypedSecret::new("s3cret"))
    );
    assert!(!valid.backup_password().is_replace());
    for field in [
        Field::BackupOauthTenantId,
        Field::BackupOauthClientId,
        Field::BackupOauthClientSecret,
        Field::BackupOauthSender,
    ] {
        assert!(valid.changed_fields().contains(&field), "{field:?}");
    }
    // The same app keeps the stored secret; another client ID needs it typed again.
    assert!(validate(&saved, &with(backup(CLIENT, None, "backup@contoso.com"))).is_ok());
    assert_eq!(
        validate(
            &saved,
            &with(backup(
                "00000000-0000-0000-0000-0000000000c3",
                None,
                "backup@contoso.com"
            ))
        )
        .unwrap_err(),
        vec![FieldError::new(
            Field::BackupOauthClientSecret,
            ErrorCode::ClientSecretRequired
        )]
    );
    // The JSON names the kind by its member.
    let parsed: SettingsInput = serde_json::from_str(
        r#"{"auth":"smtp","manager_root":"x","backup":{"oauth":{"client_id":"c","sender":"s"}}}"#,
    )
    .unwrap();
    assert!(matches!(
        parsed.backup,
        Some(Some(BackupInput::Oauth(BackupOauthInput { ref client_id, .. }))) if client_id == "c"
    ));
    let view = serde_json::to_value(&saved.backup).unwrap();
    assert_eq!(view["oauth"]["client_secret_set"], true);
    assert!(view.get("smtp").is_none());
}
