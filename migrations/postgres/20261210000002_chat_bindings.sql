-- Self-service chat bindings. A chat user asks for a binding to a forge login and gets a
-- one-time code; the code is kept only as its SHA-256 (hex), with who asked, for which forge
-- login, and until when. The forge user confirms by commenting it; the binding is then kept
-- in chat_bindings (one forge login per chat user and forge). used_action is the journaled
-- action that redeemed the code: the code is single use, and redeeming it again from the
-- same action (a retry) is the same redemption. Times are epoch milliseconds.
CREATE TABLE chat_binding_codes (
    code_hash   TEXT PRIMARY KEY,
    chat_user   TEXT NOT NULL,
    forge       TEXT NOT NULL,
    login       TEXT NOT NULL,
    created_ms  BIGINT NOT NULL,
    expires_ms  BIGINT NOT NULL,
    used_ms     BIGINT,
    used_action BIGINT
);
CREATE TABLE chat_bindings (
    chat_user   TEXT NOT NULL,
    forge       TEXT NOT NULL,
    login       TEXT NOT NULL,
    bound_ms    BIGINT NOT NULL,
    PRIMARY KEY (chat_user, forge)
);
