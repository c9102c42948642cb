# Windows service definition for the Suture agent. Run in an elevated PowerShell:
#   .\install-windows-service.ps1 -AgentDir 'C:\Program Files\Suture\agent' -Node 'C:\Program Files\nodejs\node.exe'
# Before: node.exe (22), the agent build (dist\suture-agent.mjs, dist\engine-worker.mjs, node_modules\koffi),
# and enrollment: node dist\suture-agent.mjs enroll --server https://suture.example.com --token <token>
# Node programs are not service executables themselves; the service runs them through sc.exe's
# binPath with a small wrapper (srvany-style) or a service manager such as WinSW, whichever your
# organisation allows. This script uses WinSW when SutureAgent.exe (a renamed WinSW) sits in AgentDir.
param(
  [Parameter(Mandatory)] [string] $AgentDir,
  [string] $Node = 'C:\Program Files\nodejs\node.exe',
  [string] $StateDir = (Join-Path $env:ProgramData 'suture-agent')
)
$ErrorActionPreference = 'Stop'
New-Item -ItemType Directory -Force -Path $StateDir | Out-Null
# Only SYSTEM and Administrators may read the credential and the state.
icacls $StateDir /inheritance:r /grant:r 'SYSTEM:(OI)(CI)F' 'Administrators:(OI)(CI)F' | Out-Null
$xml = @"
<service>
  <id>SutureAgent</id>
  <name>Suture agent</name>
  <description>Applies signed micropatches to running processes and reports to the Suture server.</description>
  <executable>$Node</executable>
  <arguments>--lite-mode --max-semi-space-size=1 --v8-pool-size=1 "$AgentDir\dist\suture-agent.mjs" --state-dir "$StateDir" run</arguments>
  <env name="SUTURE_AGENT_STATE" value="$StateDir"/>
  <onfailure action="restart" delay="2 sec"/>
  <stoptimeout>30 sec</stoptimeout>
  <log mode="roll-by-size"><sizeThreshold>10240</sizeThreshold><keepFiles>5</keepFiles></log>
</service>
"@
Set-Content -Path (Join-Path $AgentDir 'SutureAgent.xml') -Value $xml -Encoding UTF8
& (Join-Path $AgentDir 'SutureAgent.exe') install
Start-Service SutureAgent
Write-Host "SutureAgent installed and started; state in $StateDir"
