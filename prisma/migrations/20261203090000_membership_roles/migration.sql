-- Roles belong to memberships: the global role now only marks platform operators.
ALTER TYPE "GlobalRole" RENAME VALUE 'ADMIN' TO 'OPERATOR';

-- Nobody becomes a platform operator by migrating: former global admins keep
-- what their memberships give them (an organisation's OWNER or ADMIN).
UPDATE "User" SET "role" = 'MEMBER' WHERE "role" = 'OPERATOR';
