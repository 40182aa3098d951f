import { useSyncExternalStore } from "react";
import { getAccessToken, getOrgId, getUser, subscribe } from "../api/session";

let snapshot = { token: getAccessToken(), user: getUser(), orgId: getOrgId() };
function read() {
  const token = getAccessToken();
  const user = getUser();
  const orgId = getOrgId();
  if (token !== snapshot.token || user !== snapshot.user || orgId !== snapshot.orgId) snapshot = { token, user, orgId };
  return snapshot;
}

/** The session (token, user, organization), re-rendering on every change. */
export function useSession() {
  return useSyncExternalStore(subscribe, read, read);
}
