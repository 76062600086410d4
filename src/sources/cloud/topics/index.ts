// Every topic of CONTRACT §5, in one list.
import type { Topic } from '../topic.js';
import { createNewRuntime } from './create-new-runtime.js';
import { getConsumptionDevice, getConsumptionOrchestrator } from './consumption.js';
import { deleteDevice } from './delete-device.js';
import { deleteOrchestrator } from './delete-orchestrator.js';
import { getAgentState, getPlan } from './extensions.js';
import { getDeviceStatus } from './get-device-status.js';
import { getHostInterfaces } from './get-host-interfaces.js';
import { getOrchestratorVersion } from './get-orchestrator-version.js';
import { getSerialDevices } from './get-serial-devices.js';
import { restartDevice, startDevice, stopDevice } from './lifecycle.js';
import { runCommand } from './run-command.js';
import { upgradeOrchestrator } from './upgrade-orchestrator.js';
import { webrtcDisconnect, webrtcIce, webrtcOffer } from './webrtc.js';

export const TOPICS: readonly Topic[] = [
  createNewRuntime,
  deleteDevice,
  startDevice,
  stopDevice,
  restartDevice,
  runCommand,
  getConsumptionOrchestrator,
  getConsumptionDevice,
  getDeviceStatus,
  getHostInterfaces,
  getSerialDevices,
  deleteOrchestrator,
  getOrchestratorVersion,
  upgradeOrchestrator,
  getAgentState,
  getPlan,
  webrtcOffer,
  webrtcIce,
  webrtcDisconnect,
];
