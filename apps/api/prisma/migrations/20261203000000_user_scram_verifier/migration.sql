-- The SCRAM-SHA-256 verifier of the account's password (PostgreSQL's format), for the PostgreSQL front door to sign
-- clients in without the password crossing an unencrypted connection. Set when the password is set or used.
ALTER TABLE "User" ADD COLUMN "scramVerifier" TEXT;
