/**
 * `kube-sgx doctor`: a read-only check of a cluster for what stops SGX pods
 * from scheduling, being admitted or scaling out. See docs/webhook.md section 7.
 */
export {
  runDoctor,
  formatDoctorReport,
  parseNodeGroupTemplates,
  nodeGroupTemplateSchema,
  type DoctorOptions,
  type DoctorReport,
  type DoctorFinding,
  type DoctorSeverity,
  type NodeGroupTemplate,
} from './doctor.js';
