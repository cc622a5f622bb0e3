// A Matrix user for the end-to-end tests, driven over JSON lines.
//
// One process = one Matrix user on one device, running matrix-js-sdk with its Rust
// crypto in the device-isolation mode Element uses (OnlySignedDevicesIsolationMode,
// MSC4153): keys go only to devices cross-signed by their owner, and events from a
// device that is not cross-signed are not decrypted.
//
// Protocol: one request per line on stdin, {"id": n, "op": "...", ...}; one response
// per line on stdout, {"id": n, "ok": true, "result": ...} or {"id": n, "ok": false,
// "error": "..."}. Requests run concurrently; everything else goes to stderr.
// The Python side is tests/e2ee_client.py (class JsUser), which documents the ops.

import readline from "node:readline";
import { Buffer } from "node:buffer";

// stdout is the protocol channel: route every console method to stderr before the SDK
// (and its loglevel logger, which binds console methods when created) is loaded.
const protocolOut = process.stdout;
for (const method of ["log", "info", "debug", "trace", "warn"]) {
    console[method] = (...args) => console.error(...args);
}

const sdk = await import("matrix-js-sdk");
const { OnlySignedDevicesIsolationMode } = await import("matrix-js-sdk/lib/crypto-api/index.js");
const attachments = (await import("matrix-encrypt-attachment")).default;

const { ClientEvent, MatrixEventEvent, SyncState, EventType, Preset, Visibility } = sdk;

const { logger } = await import("matrix-js-sdk/lib/logger.js");
logger.setLevel?.(process.env.E2EE_DRIVER_LOG_LEVEL ?? "info");

let client = null;
let password = null;
/** roomId -> ordered list of event ids, in the order the sync delivered them */
const logs = new Map();
/** eventId -> the MatrixEvent object the sync delivered */
const seen = new Map();

function requireClient() {
    if (!client) throw new Error("not logged in: call login first");
    return client;
}

function sleep(ms) {
    return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Poll ``check`` until it returns a truthy value or ``timeoutMs`` passes. */
async function until(check, timeoutMs, what) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
        const value = await check();
        if (value) return value;
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await sleep(100);
    }
}

/** Record every room event the sync delivers (main timeline and threads alike). */
function recordEvent(event) {
    const roomId = event.getRoomId();
    const eventId = event.getId();
    if (!roomId || !eventId || eventId.startsWith("~")) return; // local echo / ephemeral
    if (!seen.has(eventId)) {
        if (!logs.has(roomId)) logs.set(roomId, []);
        logs.get(roomId).push(eventId);
    }
    seen.set(eventId, event);
}

/** Wait for a pending decryption, so late-decrypted events are reported in clear. */
async function settle(event) {
    if (event.isBeingDecrypted()) await event.getDecryptionPromise();
    else if (event.shouldAttemptDecryption()) await client.decryptEventIfNeeded(event);
}

/** The JSON the tests see for one event. */
function describe(event) {
    const failure = event.isDecryptionFailure()
        ? String(event.decryptionFailureReason ?? "decryption failure")
        : null;
    // The original clear content (not an applied edit). In encrypted rooms m.relates_to
    // travels in the clear part of the wire content (spec: "Extensions to m.room.encrypted")
    // and is merged back, as clients read it.
    const content = failure ? {} : { ...event.getOriginalContent() };
    const relation = event.getWireContent()?.["m.relates_to"];
    if (!failure && event.isEncrypted() && relation && !content["m.relates_to"]) {
        content["m.relates_to"] = relation;
    }
    return {
        event_id: event.getId(),
        type: failure ? "m.room.encrypted" : event.getType(),
        sender: event.getSender(),
        state_key: event.getStateKey() ?? null,
        content,
        redacts: event.event.redacts ?? event.getContent()?.redacts ?? null,
        redacted: event.isRedacted(),
        encrypted: event.isEncrypted(),
        decryption_failure: failure,
        origin_server_ts: event.getTs(),
    };
}

/** The room's own copy of an event (it carries redactions), else the one we logged. */
function current(roomId, eventId) {
    return client.getRoom(roomId)?.findEventById(eventId) ?? seen.get(eventId);
}

function passwordAuth(userId) {
    return { type: "m.login.password", identifier: { type: "m.id.user", user: userId }, password };
}

const ops = {
    async login({ baseUrl, userId, password: pw, deviceId, crossSign = true, isolation = true }) {
        if (client) throw new Error("already logged in");
        password = pw;
        const anonymous = sdk.createClient({ baseUrl });
        const login = await anonymous.loginRequest({
            ...passwordAuth(userId),
            ...(deviceId ? { device_id: deviceId } : {}),
            initial_device_display_name: "maillage e2ee test client (matrix-js-sdk)",
        });
        client = sdk.createClient({
            baseUrl,
            userId: login.user_id,
            deviceId: login.device_id,
            accessToken: login.access_token,
        });
        await client.initRustCrypto({ useIndexedDB: false });
        const crypto = client.getCrypto();
        crypto.globalBlacklistUnverifiedDevices = false;
        if (isolation) crypto.setDeviceIsolationMode(new OnlySignedDevicesIsolationMode());
        if (crossSign) {
            await crypto.bootstrapCrossSigning({
                authUploadDeviceSigningKeys: async (makeRequest) => {
                    await makeRequest(passwordAuth(login.user_id));
                },
            });
        }
        client.on(ClientEvent.Event, recordEvent);
        client.on(MatrixEventEvent.Decrypted, recordEvent);
        const prepared = new Promise((resolve, reject) => {
            const onSync = (state) => {
                if (state === SyncState.Prepared || state === SyncState.Syncing) resolve();
                else if (state === SyncState.Error) reject(new Error("initial sync failed"));
            };
            client.on(ClientEvent.Sync, onSync);
        });
        await client.startClient({ initialSyncLimit: 20, threadSupport: true });
        await prepared;
        return {
            userId: login.user_id,
            deviceId: login.device_id,
            accessToken: login.access_token,
            crossSigningReady: await crypto.isCrossSigningReady(),
            crypto: crypto.getVersion(),
        };
    },

    async createRoom({ name, invite = [], encrypted = true, version, preset, isDirect = false }) {
        const options = {
            name,
            invite,
            preset: preset ?? Preset.PrivateChat,
            visibility: Visibility.Private,
            initial_state: [],
        };
        if (version) options.room_version = version;
        if (isDirect) options.is_direct = true; // a direct chat, as Element's "Start chat"
        if (encrypted) {
            options.initial_state.push({
                type: EventType.RoomEncryption,
                state_key: "",
                content: { algorithm: "m.megolm.v1.aes-sha2" },
            });
        }
        const { room_id: roomId } = await requireClient().createRoom(options);
        await until(() => client.getRoom(roomId), 15000, `room ${roomId} in the sync`);
        return roomId;
    },

    async join({ roomId }) {
        await requireClient().joinRoom(roomId);
        await until(() => client.getRoom(roomId)?.getMyMembership() === "join", 15000,
            `own join of ${roomId} in the sync`);
        return null;
    },

    async invite({ roomId, userId }) {
        await requireClient().invite(roomId, userId);
        return null;
    },

    /** Wait until this client's view of the room has ``userId`` with ``membership``. */
    async waitMembership({ roomId, userId, membership = "join", seconds = 30 }) {
        requireClient();
        await until(() => client.getRoom(roomId)?.getMember(userId)?.membership === membership,
            seconds * 1000, `${userId} ${membership} in ${roomId}`);
        return null;
    },

    async send({ roomId, type, content, threadId }) {
        requireClient();
        await until(() => client.getRoom(roomId), 15000, `room ${roomId} in the sync`);
        const { event_id: eventId } = await client.sendEvent(roomId, threadId ?? null, type, content);
        return eventId;
    },

    async redact({ roomId, eventId, reason }) {
        const { event_id: redactionId } = await requireClient().redactEvent(
            roomId, eventId, undefined, reason ? { reason } : undefined);
        return redactionId;
    },

    async events({ roomId, since }) {
        requireClient();
        let ids = logs.get(roomId) ?? [];
        if (since) {
            const index = ids.indexOf(since);
            if (index >= 0) ids = ids.slice(index + 1);
        }
        const events = ids.map((id) => current(roomId, id));
        await Promise.all(events.map(settle));
        return events.map(describe);
    },

    async uploadFile({ roomId, name, mimetype, base64, encrypted = true, threadId }) {
        requireClient();
        const data = Buffer.from(base64, "base64");
        let upload = data;
        let info = null;
        if (encrypted) {
            const result = await attachments.encryptAttachment(data);
            upload = Buffer.from(result.data);
            info = result.info;
        }
        const { content_uri: mxc } = await client.uploadContent(upload, {
            type: encrypted ? "application/octet-stream" : mimetype,
            name: encrypted ? undefined : name,
            includeFilename: !encrypted,
        });
        // The content Element's ContentMessages builds for a file.
        const content = {
            body: name,
            msgtype: mimetype.startsWith("image/") ? "m.image" : "m.file",
            info: { mimetype, size: data.length },
        };
        if (encrypted) content.file = { ...info, url: mxc };
        else content.url = mxc;
        const { event_id: eventId } = await client.sendEvent(roomId, threadId ?? null,
            EventType.RoomMessage, content);
        return { eventId, content };
    },

    async downloadAttachment({ content }) {
        requireClient();
        const mxc = content?.file?.url ?? content?.url;
        if (!mxc) throw new Error("content has neither file nor url: not an attachment");
        const match = /^mxc:\/\/([^/]+)\/(.+)$/.exec(mxc);
        if (!match) throw new Error(`not an mxc URI: ${mxc}`);
        const [, server, mediaId] = match;
        const url = `${client.baseUrl}/_matrix/client/v1/media/download/`
            + `${encodeURIComponent(server)}/${encodeURIComponent(mediaId)}`;
        const response = await fetch(url, {
            headers: { Authorization: `Bearer ${client.getAccessToken()}` },
        });
        if (!response.ok) throw new Error(`GET ${url} -> ${response.status} ${await response.text()}`);
        const body = Buffer.from(await response.arrayBuffer());
        // decryptAttachment checks the sha256 of the ciphertext before AES-CTR.
        const clear = content.file ? Buffer.from(await attachments.decryptAttachment(body, content.file)) : body;
        return { base64: clear.toString("base64") };
    },

    async deviceTrust({ userId, deviceId }) {
        const crypto = requireClient().getCrypto();
        await crypto.getUserDeviceInfo([userId], true); // fetch the keys if not tracked yet
        const status = await crypto.getDeviceVerificationStatus(userId, deviceId);
        if (!status) return null;
        return {
            signedByOwner: status.signedByOwner,
            crossSigningVerified: status.crossSigningVerified,
            localVerified: status.localVerified,
            isVerified: status.isVerified(),
        };
    },

    async whoami() {
        requireClient();
        return { userId: client.getUserId(), deviceId: client.getDeviceId() };
    },

    async stop() {
        if (client) client.stopClient();
        setTimeout(() => process.exit(0), 50);
        return null;
    },
};

function reply(message) {
    protocolOut.write(JSON.stringify(message) + "\n");
}

async function handle(line) {
    let request;
    try {
        request = JSON.parse(line);
    } catch (error) {
        reply({ id: null, ok: false, error: `bad JSON: ${error.message}` });
        return;
    }
    const { id, op, ...args } = request;
    const run = ops[op];
    if (!run) {
        reply({ id, ok: false, error: `unknown op ${JSON.stringify(op)}` });
        return;
    }
    try {
        reply({ id, ok: true, result: (await run(args)) ?? null });
    } catch (error) {
        console.error(`op ${op} failed:`, error);
        reply({ id, ok: false, error: `${error.name ?? "Error"}: ${error.message ?? error}` });
    }
}

const input = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
input.on("line", (line) => {
    if (line.trim()) handle(line);
});
input.on("close", () => {
    if (client) client.stopClient();
    process.exit(0);
});
console.error("e2ee driver ready");
