/** An amount in minor units (cents) as people read it: `formatMoney(500, "EUR")` is "€5.00". */
export function formatMoney(amountMinor: number, currencyCode: string): string {
  try {
    return new Intl.NumberFormat("en-US", { style: "currency", currency: currencyCode }).format(amountMinor / 100);
  } catch {
    return `${(amountMinor / 100).toFixed(2)} ${currencyCode}`;
  }
}
