import type { Metadata } from "next";

import { auth } from "~/server/auth";
import { TRPCReactProvider } from "~/trpc/react";
import "./globals.css";

export const metadata: Metadata = {
  title: "T3 live events",
  description: "Typed real-time events over tRPC subscriptions and Server-Sent Events",
};

export default async function RootLayout({ children }: Readonly<{ children: React.ReactNode }>) {
  const session = await auth();
  return (
    <html lang="en">
      {/* The sign-in whose tabs share one live stream (src/trpc/react.tsx). */}
      <body data-sign-in={session?.sessionId}>
        <TRPCReactProvider>{children}</TRPCReactProvider>
      </body>
    </html>
  );
}
