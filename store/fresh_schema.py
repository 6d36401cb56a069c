"""The schema a new store starts with: what store/db.py's migrations make of an empty
database, written down so that a new store is made without importing sqlite-utils.
Generated: tests/unit/test_fresh_schema.py fails when it falls behind the migrations and
gives the command that writes it again."""

VERSION = 11
STATEMENTS = (
    """CREATE TABLE schema_version (version INTEGER NOT NULL)""",
    """CREATE TABLE "layers" (
   "chain_id" TEXT PRIMARY KEY,
   "diff_id" TEXT NOT NULL,
   "parent" TEXT REFERENCES "layers"("chain_id"),
   "dir" TEXT NOT NULL,
   "short" TEXT NOT NULL,
   "size" INTEGER NOT NULL,
   "disk" INTEGER NOT NULL,
   "entries" INTEGER,
   "tarsplit" TEXT NOT NULL,
   "whiteouts" TEXT NOT NULL,
   "created" REAL NOT NULL
)""",
    """CREATE TABLE "images" (
   "id" TEXT PRIMARY KEY,
   "parent" TEXT,
   "created" TEXT,
   "added" REAL NOT NULL,
   "last_used" REAL,
   "architecture" TEXT,
   "os" TEXT,
   "variant" TEXT,
   "config_size" INTEGER NOT NULL,
   "labels" TEXT
, "size" INTEGER)""",
    """CREATE TABLE "image_layers" (
   "image_id" TEXT REFERENCES "images"("id"),
   "position" INTEGER,
   "chain_id" TEXT REFERENCES "layers"("chain_id"),
   PRIMARY KEY ("image_id", "position")
)""",
    """CREATE TABLE "tags" (
   "repository" TEXT,
   "tag" TEXT,
   "image_id" TEXT REFERENCES "images"("id"),
   "created" REAL,
   PRIMARY KEY ("repository", "tag")
)""",
    """CREATE TABLE "digests" (
   "repository" TEXT,
   "digest" TEXT,
   "image_id" TEXT REFERENCES "images"("id"),
   "created" REAL,
   PRIMARY KEY ("repository", "digest")
)""",
    """CREATE TABLE "leases" (
   "id" TEXT PRIMARY KEY,
   "purpose" TEXT,
   "pid" INTEGER,
   "created" REAL,
   "expires" REAL
, "holder" TEXT)""",
    """CREATE TABLE "lease_refs" (
   "lease_id" TEXT REFERENCES "leases"("id"),
   "kind" TEXT,
   "ref" TEXT,
   PRIMARY KEY ("lease_id", "kind", "ref")
)""",
    """CREATE TABLE "containers" (
   "id" TEXT PRIMARY KEY,
   "name" TEXT NOT NULL,
   "image_id" TEXT NOT NULL REFERENCES "images"("id"),
   "state" TEXT NOT NULL,
   "created" REAL NOT NULL
, "started_at" REAL, "finished_at" REAL, "exit_code" INTEGER, "pid" INTEGER, "driver" TEXT, "runtime" TEXT, "config" TEXT, "labels" TEXT, "size_rw" INTEGER, "disk_rw" INTEGER)""",
    """CREATE TABLE "trash_log" (
   "path" TEXT PRIMARY KEY,
   "queued" REAL
)""",
    """CREATE TABLE "pins" (
   "image_id" TEXT PRIMARY KEY REFERENCES "images"("id"),
   "created" REAL
)""",
    """CREATE TABLE "gc_runs" (
   "id" INTEGER PRIMARY KEY,
   "started" REAL,
   "finished" REAL,
   "command" TEXT,
   "policy" TEXT,
   "dry_run" INTEGER,
   "removed" TEXT,
   "planned_bytes" INTEGER,
   "planned_disk" INTEGER,
   "freed_bytes" INTEGER,
   "freed_disk" INTEGER,
   "fs_free_before" INTEGER,
   "fs_free_after" INTEGER,
   "errors" TEXT
)""",
    """CREATE TABLE "layer_blobs" (
   "digest" TEXT PRIMARY KEY,
   "diff_id" TEXT NOT NULL,
   "media_type" TEXT NOT NULL,
   "size" INTEGER NOT NULL,
   "created" REAL NOT NULL
)""",
    """CREATE TABLE "blob_sources" (
   "digest" TEXT REFERENCES "layer_blobs"("digest"),
   "repository" TEXT,
   "seen" REAL NOT NULL,
   PRIMARY KEY ("digest", "repository")
)""",
    """CREATE TABLE "build_cache" (
   "image_id" TEXT PRIMARY KEY REFERENCES "images"("id"),
   "created" REAL NOT NULL
)""",
    """CREATE TABLE "snapshots" (
   "id" INTEGER PRIMARY KEY,
   "taken_at" REAL NOT NULL,
   "reason" TEXT NOT NULL,
   "images_bytes" INTEGER NOT NULL,
   "containers_bytes" INTEGER NOT NULL,
   "build_cache_bytes" INTEGER NOT NULL,
   "reclaimable_bytes" INTEGER NOT NULL,
   "fs_free_bytes" INTEGER NOT NULL,
   "fs_total_bytes" INTEGER NOT NULL,
   "freed_bytes" INTEGER NOT NULL
)""",
    """CREATE TABLE generation (n INTEGER NOT NULL)""",
    """CREATE TABLE "build_memo" (
   "key" TEXT PRIMARY KEY,
   "basis" TEXT NOT NULL,
   "value" TEXT NOT NULL,
   "used" REAL NOT NULL
)""",
    """CREATE TABLE "damaged" (
   "ref" TEXT PRIMARY KEY,
   "kind" TEXT NOT NULL,
   "why" TEXT NOT NULL,
   "found" REAL NOT NULL
)""",
    """CREATE INDEX "idx_layers_parent"
    ON "layers" ("parent")""",
    """CREATE UNIQUE INDEX "idx_layers_short"
    ON "layers" ("short")""",
    """CREATE INDEX "idx_images_parent"
    ON "images" ("parent")""",
    """CREATE INDEX "idx_image_layers_chain_id"
    ON "image_layers" ("chain_id")""",
    """CREATE INDEX "idx_tags_image_id"
    ON "tags" ("image_id")""",
    """CREATE INDEX "idx_digests_image_id"
    ON "digests" ("image_id")""",
    """CREATE INDEX "idx_lease_refs_kind_ref"
    ON "lease_refs" ("kind", "ref")""",
    """CREATE UNIQUE INDEX "idx_containers_name"
    ON "containers" ("name")""",
    """CREATE INDEX "idx_containers_image_id"
    ON "containers" ("image_id")""",
    """CREATE INDEX "idx_containers_state"
    ON "containers" ("state")""",
    """CREATE INDEX "idx_gc_runs_started"
    ON "gc_runs" ("started")""",
    """CREATE INDEX "idx_layer_blobs_diff_id"
    ON "layer_blobs" ("diff_id")""",
    """CREATE INDEX image_layers_chains ON image_layers (image_id, position, chain_id)""",
    """CREATE INDEX "idx_snapshots_taken_at"
    ON "snapshots" ("taken_at")""",
    """CREATE TRIGGER images_insert_generation AFTER INSERT ON images BEGIN UPDATE generation SET n = n + 1; END""",
    """CREATE TRIGGER images_update_generation AFTER UPDATE ON images BEGIN UPDATE generation SET n = n + 1; END""",
    """CREATE TRIGGER images_delete_generation AFTER DELETE ON images BEGIN UPDATE generation SET n = n + 1; END""",
    """CREATE TRIGGER image_layers_insert_generation AFTER INSERT ON image_layers BEGIN UPDATE generation SET n = n + 1; END""",
    """CREATE TRIGGER image_layers_update_generation AFTER UPDATE ON image_layers BEGIN UPDATE generation SET n = n + 1; END""",
    """CREATE TRIGGER image_layers_delete_generation AFTER DELETE ON image_layers BEGIN UPDATE generation SET n = n + 1; END""",
    """CREATE TRIGGER layers_insert_generation AFTER INSERT ON layers BEGIN UPDATE generation SET n = n + 1; END""",
    """CREATE TRIGGER layers_update_generation AFTER UPDATE ON layers BEGIN UPDATE generation SET n = n + 1; END""",
    """CREATE TRIGGER layers_delete_generation AFTER DELETE ON layers BEGIN UPDATE generation SET n = n + 1; END""",
    """CREATE TRIGGER tags_insert_generation AFTER INSERT ON tags BEGIN UPDATE generation SET n = n + 1; END""",
    """CREATE TRIGGER tags_update_generation AFTER UPDATE ON tags BEGIN UPDATE generation SET n = n + 1; END""",
    """CREATE TRIGGER tags_delete_generation AFTER DELETE ON tags BEGIN UPDATE generation SET n = n + 1; END""",
    """CREATE TRIGGER digests_insert_generation AFTER INSERT ON digests BEGIN UPDATE generation SET n = n + 1; END""",
    """CREATE TRIGGER digests_update_generation AFTER UPDATE ON digests BEGIN UPDATE generation SET n = n + 1; END""",
    """CREATE TRIGGER digests_delete_generation AFTER DELETE ON digests BEGIN UPDATE generation SET n = n + 1; END""",
    """CREATE TRIGGER pins_insert_generation AFTER INSERT ON pins BEGIN UPDATE generation SET n = n + 1; END""",
    """CREATE TRIGGER pins_update_generation AFTER UPDATE ON pins BEGIN UPDATE generation SET n = n + 1; END""",
    """CREATE TRIGGER pins_delete_generation AFTER DELETE ON pins BEGIN UPDATE generation SET n = n + 1; END""",
    """CREATE TRIGGER build_cache_insert_generation AFTER INSERT ON build_cache BEGIN UPDATE generation SET n = n + 1; END""",
    """CREATE TRIGGER build_cache_update_generation AFTER UPDATE ON build_cache BEGIN UPDATE generation SET n = n + 1; END""",
    """CREATE TRIGGER build_cache_delete_generation AFTER DELETE ON build_cache BEGIN UPDATE generation SET n = n + 1; END""",
    """CREATE TRIGGER containers_insert_generation AFTER INSERT ON containers BEGIN UPDATE generation SET n = n + 1; END""",
    """CREATE TRIGGER containers_update_generation AFTER UPDATE ON containers BEGIN UPDATE generation SET n = n + 1; END""",
    """CREATE TRIGGER containers_delete_generation AFTER DELETE ON containers BEGIN UPDATE generation SET n = n + 1; END""",
    """CREATE TRIGGER leases_insert_generation AFTER INSERT ON leases BEGIN UPDATE generation SET n = n + 1; END""",
    """CREATE TRIGGER leases_update_generation AFTER UPDATE ON leases BEGIN UPDATE generation SET n = n + 1; END""",
    """CREATE TRIGGER leases_delete_generation AFTER DELETE ON leases BEGIN UPDATE generation SET n = n + 1; END""",
    """CREATE TRIGGER lease_refs_insert_generation AFTER INSERT ON lease_refs BEGIN UPDATE generation SET n = n + 1; END""",
    """CREATE TRIGGER lease_refs_update_generation AFTER UPDATE ON lease_refs BEGIN UPDATE generation SET n = n + 1; END""",
    """CREATE TRIGGER lease_refs_delete_generation AFTER DELETE ON lease_refs BEGIN UPDATE generation SET n = n + 1; END""",
    """CREATE TRIGGER damaged_images_gone AFTER DELETE ON images BEGIN DELETE FROM damaged WHERE ref = OLD.id; END""",
    """CREATE TRIGGER damaged_layers_gone AFTER DELETE ON layers BEGIN DELETE FROM damaged WHERE ref = OLD.chain_id; END""",
    """CREATE TRIGGER image_layers_cascade BEFORE DELETE ON images BEGIN DELETE FROM image_layers WHERE image_id = OLD.id; END""",
    """CREATE TRIGGER tags_cascade BEFORE DELETE ON images BEGIN DELETE FROM tags WHERE image_id = OLD.id; END""",
    """CREATE TRIGGER digests_cascade BEFORE DELETE ON images BEGIN DELETE FROM digests WHERE image_id = OLD.id; END""",
    """CREATE TRIGGER lease_refs_cascade BEFORE DELETE ON leases BEGIN DELETE FROM lease_refs WHERE lease_id = OLD.id; END""",
    """CREATE TRIGGER pins_cascade BEFORE DELETE ON images BEGIN DELETE FROM pins WHERE image_id = OLD.id; END""",
    """CREATE TRIGGER build_cache_cascade BEFORE DELETE ON images BEGIN DELETE FROM build_cache WHERE image_id = OLD.id; END""",
    """INSERT INTO "generation" VALUES (0)""",
)
