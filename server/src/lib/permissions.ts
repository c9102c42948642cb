export const PERMISSIONS = ['read', 'publish', 'admin'] as const;
export type Permission = (typeof PERMISSIONS)[number];
export type RoleName = 'admin' | 'operator' | 'auditor';

/** What each role may do; an API token's scopes are a subset of its owner's role, checked again on use. */
export const ROLE_PERMISSIONS: Record<RoleName, readonly Permission[]> = {
  admin: ['read', 'publish', 'admin'],
  operator: ['read', 'publish'],
  auditor: ['read'],
};

export interface Principal {
  userId: string;
  username: string;
  role: RoleName;
  via: 'session' | 'token';
  tokenId?: string;
  permissions: ReadonlySet<Permission>;
}
