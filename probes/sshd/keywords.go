package sshd

// opcode identifies a directive's parser, as ServerOpCodes does in servconf.c.
type opcode int

const (
	sBadOption opcode = iota
	sUsePAM
	sPort
	sHostKeyFile
	sHostKeyAgent
	sPidFile
	sModuliFile
	sLoginGraceTime
	sPermitRootLogin
	sLogFacility
	sLogLevel
	sLogVerbose
	sHostbasedAuthentication
	sHostbasedUsesNameFromPacketOnly
	sHostbasedAcceptedAlgorithms
	sHostKeyAlgorithms
	sPubkeyAuthentication
	sPubkeyAcceptedAlgorithms
	sPubkeyAuthOptions
	sKerberosAuthentication
	sKerberosOrLocalPasswd
	sKerberosTicketCleanup
	sGssAuthentication
	sGssCleanupCreds
	sGssStrictAcceptor
	sGssKeyEx
	sGssStoreRekey
	sGssKexAlgorithms
	sPasswordAuthentication
	sKbdInteractiveAuthentication
	sListenAddress
	sAddressFamily
	sPrintMotd
	sPrintLastLog
	sIgnoreRhosts
	sIgnoreUserKnownHosts
	sX11Forwarding
	sX11DisplayOffset
	sX11UseLocalhost
	sXAuthLocation
	sStrictModes
	sEmptyPasswd
	sPermitUserEnvironment
	sCompression
	sRekeyLimit
	sTCPKeepAlive
	sAllowTcpForwarding
	sAllowAgentForwarding
	sAllowUsers
	sDenyUsers
	sAllowGroups
	sDenyGroups
	sCiphers
	sMacs
	sGatewayPorts
	sSubsystem
	sMaxStartups
	sPerSourceMaxStartups
	sPerSourceNetBlockSize
	sMaxAuthTries
	sMaxSessions
	sBanner
	sUseDNS
	sClientAliveInterval
	sClientAliveCountMax
	sAuthorizedKeysFile
	sAcceptEnv
	sSetEnv
	sPermitTunnel
	sPermitTTY
	sPermitUserRC
	sMatch
	sPermitOpen
	sPermitListen
	sForceCommand
	sChrootDirectory
	sHostCertificate
	sRevokedKeys
	sTrustedUserCAKeys
	sAuthorizedPrincipalsFile
	sKexAlgorithms
	sInclude
	sIPQoS
	sAuthorizedKeysCommand
	sAuthorizedKeysCommandUser
	sAuthorizedPrincipalsCommand
	sAuthorizedPrincipalsCommandUser
	sVersionAddendum
	sAuthenticationMethods
	sStreamLocalBindMask
	sStreamLocalBindUnlink
	sAllowStreamLocalForwarding
	sFingerprintHash
	sDisableForwarding
	sExposeAuthInfo
	sRDomain
	sCASignatureAlgorithms
	sSecurityKeyProvider
	sRequiredRSASize
	sChannelTimeout
	sUnusedConnectionTimeout
	sDebianBanner
	sDeprecated
	sIgnore
	sUnsupported
)

// Where a directive may appear.
const (
	cfgGlobal = 1 << iota // main section
	cfgMatch              // inside a Match block
	cfgAll    = cfgGlobal | cfgMatch
)

type keyword struct {
	op    opcode
	flags int
}

// keywords is the directive table of Debian 12's OpenSSH 9.2p1 (built with
// PAM, Kerberos and GSSAPI, without AFS): names are matched
// case-insensitively; the flags say whether a directive is allowed in Match.
var keywords = map[string]keyword{
	"usepam":                          {sUsePAM, cfgGlobal},
	"pamauthenticationviakbdint":      {sDeprecated, cfgGlobal},
	"port":                            {sPort, cfgGlobal},
	"hostkey":                         {sHostKeyFile, cfgGlobal},
	"hostdsakey":                      {sHostKeyFile, cfgGlobal},
	"hostkeyagent":                    {sHostKeyAgent, cfgGlobal},
	"pidfile":                         {sPidFile, cfgGlobal},
	"modulifile":                      {sModuliFile, cfgGlobal},
	"serverkeybits":                   {sDeprecated, cfgGlobal},
	"logingracetime":                  {sLoginGraceTime, cfgGlobal},
	"keyregenerationinterval":         {sDeprecated, cfgGlobal},
	"permitrootlogin":                 {sPermitRootLogin, cfgAll},
	"syslogfacility":                  {sLogFacility, cfgGlobal},
	"loglevel":                        {sLogLevel, cfgAll},
	"logverbose":                      {sLogVerbose, cfgAll},
	"rhostsauthentication":            {sDeprecated, cfgGlobal},
	"rhostsrsaauthentication":         {sDeprecated, cfgAll},
	"hostbasedauthentication":         {sHostbasedAuthentication, cfgAll},
	"hostbasedusesnamefrompacketonly": {sHostbasedUsesNameFromPacketOnly, cfgAll},
	"hostbasedacceptedalgorithms":     {sHostbasedAcceptedAlgorithms, cfgAll},
	"hostbasedacceptedkeytypes":       {sHostbasedAcceptedAlgorithms, cfgAll},
	"hostkeyalgorithms":               {sHostKeyAlgorithms, cfgGlobal},
	"rsaauthentication":               {sDeprecated, cfgAll},
	"pubkeyauthentication":            {sPubkeyAuthentication, cfgAll},
	"pubkeyacceptedalgorithms":        {sPubkeyAcceptedAlgorithms, cfgAll},
	"pubkeyacceptedkeytypes":          {sPubkeyAcceptedAlgorithms, cfgAll},
	"pubkeyauthoptions":               {sPubkeyAuthOptions, cfgAll},
	"dsaauthentication":               {sPubkeyAuthentication, cfgGlobal},
	"kerberosauthentication":          {sKerberosAuthentication, cfgAll},
	"kerberosorlocalpasswd":           {sKerberosOrLocalPasswd, cfgGlobal},
	"kerberosticketcleanup":           {sKerberosTicketCleanup, cfgGlobal},
	"kerberosgetafstoken":             {sUnsupported, cfgGlobal},
	"kerberostgtpassing":              {sUnsupported, cfgGlobal},
	"afstokenpassing":                 {sUnsupported, cfgGlobal},
	"gssapiauthentication":            {sGssAuthentication, cfgAll},
	"gssapicleanupcredentials":        {sGssCleanupCreds, cfgGlobal},
	"gssapicleanupcreds":              {sGssCleanupCreds, cfgGlobal},
	"gssapistrictacceptorcheck":       {sGssStrictAcceptor, cfgGlobal},
	"gssapikeyexchange":               {sGssKeyEx, cfgGlobal},
	"gssapistorecredentialsonrekey":   {sGssStoreRekey, cfgGlobal},
	"gssapikexalgorithms":             {sGssKexAlgorithms, cfgGlobal},
	"gssusesessionccache":             {sUnsupported, cfgGlobal},
	"gssapiusesessioncredcache":       {sUnsupported, cfgGlobal},
	"passwordauthentication":          {sPasswordAuthentication, cfgAll},
	"kbdinteractiveauthentication":    {sKbdInteractiveAuthentication, cfgAll},
	"challengeresponseauthentication": {sKbdInteractiveAuthentication, cfgAll},
	"skeyauthentication":              {sKbdInteractiveAuthentication, cfgAll},
	"checkmail":                       {sDeprecated, cfgGlobal},
	"listenaddress":                   {sListenAddress, cfgGlobal},
	"addressfamily":                   {sAddressFamily, cfgGlobal},
	"printmotd":                       {sPrintMotd, cfgGlobal},
	"printlastlog":                    {sPrintLastLog, cfgGlobal},
	"ignorerhosts":                    {sIgnoreRhosts, cfgAll},
	"ignoreuserknownhosts":            {sIgnoreUserKnownHosts, cfgGlobal},
	"x11forwarding":                   {sX11Forwarding, cfgAll},
	"x11displayoffset":                {sX11DisplayOffset, cfgAll},
	"x11uselocalhost":                 {sX11UseLocalhost, cfgAll},
	"xauthlocation":                   {sXAuthLocation, cfgGlobal},
	"strictmodes":                     {sStrictModes, cfgGlobal},
	"permitblacklistedkeys":           {sDeprecated, cfgGlobal},
	"permitemptypasswords":            {sEmptyPasswd, cfgAll},
	"permituserenvironment":           {sPermitUserEnvironment, cfgGlobal},
	"uselogin":                        {sDeprecated, cfgGlobal},
	"compression":                     {sCompression, cfgGlobal},
	"rekeylimit":                      {sRekeyLimit, cfgAll},
	"tcpkeepalive":                    {sTCPKeepAlive, cfgGlobal},
	"keepalive":                       {sTCPKeepAlive, cfgGlobal},
	"allowtcpforwarding":              {sAllowTcpForwarding, cfgAll},
	"allowagentforwarding":            {sAllowAgentForwarding, cfgAll},
	"allowusers":                      {sAllowUsers, cfgAll},
	"denyusers":                       {sDenyUsers, cfgAll},
	"allowgroups":                     {sAllowGroups, cfgAll},
	"denygroups":                      {sDenyGroups, cfgAll},
	"ciphers":                         {sCiphers, cfgGlobal},
	"macs":                            {sMacs, cfgGlobal},
	"protocol":                        {sIgnore, cfgGlobal},
	"gatewayports":                    {sGatewayPorts, cfgAll},
	"subsystem":                       {sSubsystem, cfgGlobal},
	"maxstartups":                     {sMaxStartups, cfgGlobal},
	"persourcemaxstartups":            {sPerSourceMaxStartups, cfgGlobal},
	"persourcenetblocksize":           {sPerSourceNetBlockSize, cfgGlobal},
	"maxauthtries":                    {sMaxAuthTries, cfgAll},
	"maxsessions":                     {sMaxSessions, cfgAll},
	"banner":                          {sBanner, cfgAll},
	"usedns":                          {sUseDNS, cfgGlobal},
	"verifyreversemapping":            {sDeprecated, cfgGlobal},
	"reversemappingcheck":             {sDeprecated, cfgGlobal},
	"clientaliveinterval":             {sClientAliveInterval, cfgAll},
	"clientalivecountmax":             {sClientAliveCountMax, cfgAll},
	"authorizedkeysfile":              {sAuthorizedKeysFile, cfgAll},
	"authorizedkeysfile2":             {sDeprecated, cfgAll},
	"useprivilegeseparation":          {sDeprecated, cfgGlobal},
	"acceptenv":                       {sAcceptEnv, cfgAll},
	"setenv":                          {sSetEnv, cfgAll},
	"permittunnel":                    {sPermitTunnel, cfgAll},
	"permittty":                       {sPermitTTY, cfgAll},
	"permituserrc":                    {sPermitUserRC, cfgAll},
	"match":                           {sMatch, cfgAll},
	"permitopen":                      {sPermitOpen, cfgAll},
	"permitlisten":                    {sPermitListen, cfgAll},
	"forcecommand":                    {sForceCommand, cfgAll},
	"chrootdirectory":                 {sChrootDirectory, cfgAll},
	"hostcertificate":                 {sHostCertificate, cfgGlobal},
	"revokedkeys":                     {sRevokedKeys, cfgAll},
	"trustedusercakeys":               {sTrustedUserCAKeys, cfgAll},
	"authorizedprincipalsfile":        {sAuthorizedPrincipalsFile, cfgAll},
	"kexalgorithms":                   {sKexAlgorithms, cfgGlobal},
	"include":                         {sInclude, cfgAll},
	"ipqos":                           {sIPQoS, cfgAll},
	"authorizedkeyscommand":           {sAuthorizedKeysCommand, cfgAll},
	"authorizedkeyscommanduser":       {sAuthorizedKeysCommandUser, cfgAll},
	"authorizedprincipalscommand":     {sAuthorizedPrincipalsCommand, cfgAll},
	"authorizedprincipalscommanduser": {sAuthorizedPrincipalsCommandUser, cfgAll},
	"versionaddendum":                 {sVersionAddendum, cfgGlobal},
	"authenticationmethods":           {sAuthenticationMethods, cfgAll},
	"streamlocalbindmask":             {sStreamLocalBindMask, cfgAll},
	"streamlocalbindunlink":           {sStreamLocalBindUnlink, cfgAll},
	"allowstreamlocalforwarding":      {sAllowStreamLocalForwarding, cfgAll},
	"fingerprinthash":                 {sFingerprintHash, cfgGlobal},
	"disableforwarding":               {sDisableForwarding, cfgAll},
	"exposeauthinfo":                  {sExposeAuthInfo, cfgAll},
	"rdomain":                         {sRDomain, cfgAll},
	"casignaturealgorithms":           {sCASignatureAlgorithms, cfgAll},
	"securitykeyprovider":             {sSecurityKeyProvider, cfgGlobal},
	"requiredrsasize":                 {sRequiredRSASize, cfgAll},
	"channeltimeout":                  {sChannelTimeout, cfgAll},
	"unusedconnectiontimeout":         {sUnusedConnectionTimeout, cfgAll},
	"debianbanner":                    {sDebianBanner, cfgGlobal},
}

// KeywordNames lists every directive this OpenSSH version knows, for tests
// and fuzzers that want to generate configurations.
func KeywordNames() []string {
	out := make([]string, 0, len(keywords))
	for k := range keywords {
		out = append(out, k)
	}
	return out
}
