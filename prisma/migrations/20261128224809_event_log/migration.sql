-- CreateTable
CREATE TABLE "EventLogEntry" (
    "idMs" BIGINT NOT NULL,
    "idSeq" INTEGER NOT NULL,
    "audience" TEXT NOT NULL,
    "key" TEXT,
    "envelope" JSONB NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "EventLogEntry_pkey" PRIMARY KEY ("idMs","idSeq")
);

-- CreateTable
CREATE TABLE "EventLogMark" (
    "key" TEXT NOT NULL,
    "idMs" BIGINT NOT NULL,
    "idSeq" INTEGER NOT NULL,

    CONSTRAINT "EventLogMark_pkey" PRIMARY KEY ("key")
);

-- CreateIndex
CREATE INDEX "EventLogEntry_audience_idMs_idSeq_idx" ON "EventLogEntry"("audience", "idMs", "idSeq");

-- CreateIndex
CREATE INDEX "EventLogEntry_createdAt_idx" ON "EventLogEntry"("createdAt");

-- CreateIndex
CREATE UNIQUE INDEX "EventLogEntry_key_key" ON "EventLogEntry"("key");
