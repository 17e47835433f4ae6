// What a frontend and an integrator write against the generated types; `tsc --strict` must
// accept it, so a change to the contract that breaks such code breaks the build here first.
import type { components, operations, paths, webhooks } from "./generated/api";

type Schemas = components["schemas"];
type LeadPage =
  paths["/api/v1/leads"]["get"]["responses"][200]["content"]["application/json"];
type LeadFilters = NonNullable<operations["list_leads"]["parameters"]["query"]>;
type NewLead =
  paths["/api/v1/leads"]["post"]["requestBody"]["content"]["application/json"];
type Problem = Schemas["Problem"];
type WonMessage =
  NonNullable<webhooks["opportunity.won"]["post"]>["requestBody"]["content"]["application/json"];

export function leadRows(page: LeadPage): Array<{ id: string; owner: string; next: string | null }> {
  return page.items.map((lead) => ({
    id: lead.id,
    owner: lead.owner_name ?? "公海",
    next: page.next_cursor,
  }));
}

export const newLeadsFilter: LeadFilters = { status: ["new", "assigned"], limit: 50 };

export const walkIn: NewLead = { name: "王工", phone: "138 0013 8000", source: "exhibition" };

export function fieldMessages(problem: Problem): string[] {
  return (problem.errors ?? []).map((error) => `${error.field}: ${error.message}`);
}

export function wonAmount(message: WonMessage): string {
  const { amount, currency, customer_name } = message.data;
  return `${customer_name}: ${amount ?? "0"} ${currency} (${message.type}, #${message.sequence})`;
}
